import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { replayJournal } from '../../../edge-agent/journal/replay';
import type { DiskImage } from '../../../edge-agent/nbd/diskImage';
import { ASYNC_WRITE_BYTES } from '../../../edge-agent/nbd/imageWriteQueue';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { tempDir } from './helpers';
import { newImage } from './journalSupport';

/** Holds the splitter's thread-pool image writes until `release()` (then they run for real). */
function holdPoolWrites(s: WriteSplitter) {
  const inflight = (s as unknown as { image: DiskImage }).image.inflight as unknown as {
    write: (offset: number, bufs: Buffer[], length: number) => Promise<void>;
  };
  const real = inflight.write;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = 0;
  inflight.write = (offset, bufs, length) => {
    held++;
    return gate.then(() => real(offset, bufs, length));
  };
  return { release: () => release(), held: () => held };
}

describe('a bookmark cut while a large write is in flight (rule 2, invariant 1)', () => {
  it('the point holds the write in flight and nothing after the bookmark', async () => {
    const dir = tempDir();
    const image = newImage(dir);
    const initial = readFileSync(`${image}.initial`);
    const j = MachineJournal.open({ dir: join(dir, 'j') });
    const s = WriteSplitter.open(j, 'd', image);
    const pool = holdPoolWrites(s);

    const large = Buffer.alloc(ASYNC_WRITE_BYTES, 0xa1);
    const small = Buffer.alloc(4096, 0xb2);
    const answered = s.write(0, large, false);
    expect(answered).toBeInstanceOf(Promise); // answered once its image write is done
    let done = false;
    void (answered as Promise<void>).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(pool.held()).toBe(1);
    expect(done).toBe(false);
    // The image does not have it yet; the journal does (its record came first).
    expect(readFileSync(image).subarray(0, 16).equals(initial.subarray(0, 16))).toBe(true);

    j.insertBookmark({ id: 'cut', consistency: 'crash' });
    expect(s.write(1024 * 1024, small, false)).toBeUndefined(); // after the bookmark

    // The point at the bookmark: the initial disk, plus the write in flight, minus the later one.
    const point = join(dir, 'point.img');
    copyFileSync(`${image}.initial`, point);
    const res = replayJournal(j, 'd', point, { untilBookmarkId: 'cut' });
    expect(res.bookmark?.id).toBe('cut');
    const want = Buffer.from(initial);
    large.copy(want, 0);
    expect(readFileSync(point).equals(want)).toBe(true);

    // Once the write lands, the disk is the point plus the later write: the point was a state
    // the disk passed through (or could have, at a crash), never one it could not have had.
    pool.release();
    await answered;
    small.copy(want, 1024 * 1024);
    expect(readFileSync(image).equals(want)).toBe(true);
    await j.close();
    await s.close();
  });
});
