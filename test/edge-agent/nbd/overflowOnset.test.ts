import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { RecordType } from '../../../edge-agent/journal/records';
import { tempDir } from './helpers';
import { newImage, SIZE } from './journalSupport';

function recordTypes(j: MachineJournal): RecordType[] {
  const out: RecordType[] = [];
  const r = j.reader(1);
  for (let rec = r.next(); rec; rec = r.next()) out.push(rec.type);
  r.close();
  return out;
}

/** The disk's image writes held in flight until `finish()`; `syncs` counts its disk syncs. */
function holdImageWrites(j: MachineJournal, diskIndex: number) {
  let finish!: () => void;
  const inFlight = new Promise<void>((r) => (finish = r));
  const held = { syncs: 0, finish: () => finish() };
  j.releases.onDiskSync(
    diskIndex,
    async () => {
      held.syncs++;
    },
    () => inFlight,
  );
  return held;
}

describe('overflow onset with image writes in flight', () => {
  it('the Overflow record is appended once they are done, then the disks are synced past it', async () => {
    const dir = tempDir();
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({
      dir: jdir,
      capacityBytes: 128 * 1024,
      resumeBelowBytes: 64 * 1024,
      segmentBytes: 64 * 1024,
    });
    const disk = j.registerDisk('d', SIZE, newImage(dir));
    const held = holdImageWrites(j, disk.index);
    let appended = 0;
    while (j.appendWrite(disk.index, 0, Buffer.alloc(16 * 1024, 1)) !== undefined) appended++;
    expect(appended).toBeGreaterThan(2);
    expect(j.overflowed).toBe(true);

    // The first unjournaled write waits for this before it touches the image.
    const ready = j.releases.beforeUnjournaled();
    await new Promise((r) => setTimeout(r, 20));
    // A process crash now must find no Overflow record: the redo re-applies the last records,
    // those in flight among them.
    expect(recordTypes(j)).not.toContain(RecordType.Overflow);
    expect(held.syncs).toBe(0);

    held.finish();
    await ready;
    const types = recordTypes(j);
    expect(types.at(-1)).toBe(RecordType.Overflow);
    expect(types.filter((t) => t === RecordType.Overflow)).toHaveLength(1);
    expect(held.syncs).toBe(1);
    const state = JSON.parse(readFileSync(join(jdir, 'state.json'), 'utf8')) as {
      diskSyncedLsn: number;
    };
    expect(state.diskSyncedLsn).toBe(j.lastLsn); // the Overflow record included
    await j.close();
  });

  it('a disk sync starts only once the image writes in flight are done', async () => {
    const dir = tempDir();
    const j = MachineJournal.open({ dir: join(dir, 'j') });
    const disk = j.registerDisk('d', SIZE, newImage(dir));
    const held = holdImageWrites(j, disk.index);
    j.appendWrite(disk.index, 0, Buffer.alloc(4096, 1));
    const synced = j.releases.syncDisks();
    await new Promise((r) => setTimeout(r, 20));
    expect(held.syncs).toBe(0); // an fdatasync now might miss the write still in flight
    held.finish();
    await synced;
    expect(held.syncs).toBe(1);
    await j.close();
  });
});
