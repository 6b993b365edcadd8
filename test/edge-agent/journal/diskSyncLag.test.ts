import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { tempDir } from '../nbd/helpers';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A FLUSH syncs the journal only; released segments wait for a disk sync (rule 3). The sync
 * forces the disks' dirty pages out: it comes once 2 segments are held back for it, or, while
 * large writes stream through O_DIRECT, a quarter of the capacity; sooner when half the room
 * left in the journal is less.
 */
describe('disk syncs behind released segments', () => {
  function journal() {
    const dir = join(tempDir(), 'j');
    const j = MachineJournal.open({
      dir,
      segmentBytes: 256 * KiB,
      capacityBytes: 8 * MiB,
    });
    const disk = j.registerDisk('d', 64 * MiB, '/dev/null').index;
    const counter = { syncs: 0 };
    j.releases.onDiskSync(disk, () => {
      counter.syncs++;
      return Promise.resolve();
    });
    /** `mib` MiB of 64 KiB writes (page cache), or of 256 KiB ones journaled O_DIRECT. */
    const write = async (mib: number, large = false) => {
      const size = large ? 256 * KiB : 64 * KiB;
      for (let i = 0; i < (mib * MiB) / size; i++) {
        const data = (large && j.payloadBuffer(size)) || Buffer.alloc(size);
        if (large) expect(data.buffer).toBeInstanceOf(SharedArrayBuffer); // O_DIRECT memory
        randomBytes(size).copy(data);
        j.appendWrite(disk, i * size, data);
      }
      await j.sync();
      return j.lastLsn;
    };
    return { j, dir, counter, write };
  }

  it('small writes: after 2 segments held back, so released files come back as spares', async () => {
    const { j, dir, counter, write } = journal();
    await j.release(await write(0.25));
    expect(counter.syncs).toBe(0);
    await j.release(await write(0.5));
    expect(counter.syncs).toBe(1);
    expect(j.retainedBytes()).toBeLessThan(512 * KiB); // the tail segment
    expect(readdirSync(dir).filter((n) => n.startsWith('spare-')).length).toBeGreaterThan(0);
    await j.close();
  });

  it('a stream of large writes: not before a quarter of the capacity (2 of 8 MiB)', async () => {
    const { j, counter, write } = journal();
    await j.release(await write(1, true));
    expect(counter.syncs).toBe(0);
    expect(j.retainedBytes()).toBeGreaterThan(MiB); // released, kept for the sync
    await j.release(await write(1.5, true));
    expect(counter.syncs).toBe(1);
    expect(j.retainedBytes()).toBeLessThan(512 * KiB);
    await j.close();
  });

  it('once the stream pauses, the short lag again', async () => {
    const { j, counter, write } = journal();
    await j.release(await write(1, true));
    expect(counter.syncs).toBe(0);
    await j.release(await write(0.0625)); // one small write since: the stream paused
    expect(counter.syncs).toBe(1);
    await j.close();
  });

  it('sooner when the journal fills up: half the room left', async () => {
    const { j, counter, write } = journal();
    const first = await write(1.5, true);
    await write(4.5, true); // 6 of 8 MiB unreleased: 2 MiB of room
    await j.release(first); // ~1.25 MiB of whole segments held: under 2 MiB, over 1 MiB
    expect(counter.syncs).toBe(1);
    await j.close();
  });
});
