import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { tempDir } from '../nbd/helpers';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A FLUSH syncs the journal only; released segments wait for a disk sync (rule 3). The sync
 * forces the disks' dirty pages out, so it waits until a quarter of the capacity is held back
 * for it, or half the room left in the journal, whichever comes first.
 */
describe('disk syncs behind released segments', () => {
  function journal() {
    const j = MachineJournal.open({
      dir: join(tempDir(), 'j'),
      segmentBytes: 256 * KiB,
      capacityBytes: 8 * MiB,
    });
    const disk = j.registerDisk('d', 64 * MiB, '/dev/null').index;
    const counter = { syncs: 0 };
    j.onDiskSync(disk, () => {
      counter.syncs++;
      return Promise.resolve();
    });
    const write = async (mib: number) => {
      for (let i = 0; i < mib * 16; i++) j.appendWrite(disk, i * 64 * KiB, randomBytes(64 * KiB));
      await j.sync();
      return j.lastLsn;
    };
    return { j, counter, write };
  }

  it('wait for a quarter of the capacity held back (2 of 8 MiB), then drop the segments', async () => {
    const { j, counter, write } = journal();
    await j.release(await write(1));
    expect(counter.syncs).toBe(0);
    expect(j.retainedBytes()).toBeGreaterThan(MiB); // released, kept for the sync
    await j.release(await write(1.5));
    expect(counter.syncs).toBe(1);
    expect(j.retainedBytes()).toBeLessThan(512 * KiB); // the tail segment
    await j.close();
  });

  it('come sooner when the journal fills up: half the room left', async () => {
    const { j, counter, write } = journal();
    const first = await write(1.5);
    await write(4.5); // 6 of 8 MiB unreleased: 2 MiB of room
    await j.release(first); // ~1.25 MiB of whole segments held: under 2 MiB, over 1 MiB
    expect(counter.syncs).toBe(1);
    await j.close();
  });
});
