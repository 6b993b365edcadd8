import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { truncateSync, writeFileSync } from 'node:fs';
import type { ChangeRecord } from '../../../edge-agent/changeSource';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { tempDir } from './helpers';

const SIZE = 8 * 1024 * 1024;

/** 20 writes of 4 KiB at offsets 0, 64 KiB, 128 KiB, …, a bookmark after the 10th. */
async function journal() {
  const dir = tempDir();
  const image = join(dir, 'disk.img');
  writeFileSync(image, '');
  truncateSync(image, SIZE);
  const j = MachineJournal.open({ dir: join(dir, 'j'), segmentBytes: 1024 * 1024 });
  const s = WriteSplitter.open(j, 'd0', image, { initialSync: false });
  for (let i = 0; i < 20; i++) {
    await s.write(i * 65536, randomBytes(4096), false);
    if (i === 9) j.insertBookmark({ id: 'b10', consistency: 'crash', createdAt: 'now' });
  }
  return { j, s };
}

/** What a stream hands out until `stop` says so (the consumer "fails" there) or it is idle. */
async function take(src: JournalChangeSource, stop: (r: ChangeRecord) => boolean) {
  const got: ChangeRecord[] = [];
  const ac = new AbortController();
  for await (const r of src.changes(ac.signal)) {
    if (r.kind === 'idle') break;
    got.push(r);
    if (stop(r)) break;
  }
  ac.abort();
  return got;
}
const names = (rs: ChangeRecord[]) =>
  rs.map((r) => (r.kind === 'extent' ? r.offset / 65536 : r.kind === 'bookmark' ? r.id : '?'));

describe('a journal source after its consumer failed', () => {
  for (const thread of [true, false]) {
    const drain = thread ? 'drain thread' : 'inline drain';
    it(`hands out again everything not committed, and nothing committed (${drain})`, async () => {
      const { j, s } = await journal();
      // One window per record: a poll holds all of them, most not yet handed out.
      const src = new JournalChangeSource(j, {
        windowMs: 0,
        maxWindowBytes: 1,
        drainThread: thread,
      });
      // The consumer takes the first 12 records (the bookmark among them) and commits through the
      // bookmark, as the batcher does once those are spooled; then it fails on the 13th.
      const first = await take(src, (r) => r.kind === 'extent' && r.offset === 11 * 65536);
      expect(names(first)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'b10', 10, 11]);
      src.committed(first[10]!.pos);
      await src.rewind();
      // Handed out again from the first record not committed: 10 and 11 (taken, not spooled) too.
      expect(names(await take(src, () => false))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      await src.close();
      await s.close();
      await j.close();
    });

    it(`does not hand out a bookmark again that was committed as it was taken (${drain})`, async () => {
      const { j, s } = await journal();
      const src = new JournalChangeSource(j, {
        windowMs: 0,
        maxWindowBytes: 1,
        drainThread: thread,
      });
      // The bookmark is spooled (committed with it), then the loop fails before asking for more.
      const first = await take(src, (r) => r.kind === 'bookmark');
      src.committed(first[first.length - 1]!.pos);
      await src.rewind();
      expect(names(await take(src, () => false))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      await src.close();
      await s.close();
      await j.close();
    });

    it(`redoes a scan it had handed out (${drain})`, async () => {
      const { j, s } = await journal();
      const src = new JournalChangeSource(j, {
        windowMs: 0,
        maxWindowBytes: 1,
        drainThread: thread,
      });
      // Blocks handed back: sent from the image (zeroes there) after a Resync record.
      src.invalidate('d0', 7 * 1024 * 1024, 128 * 1024);
      await s.write(0, randomBytes(4096), false);
      const scanned = (rs: ChangeRecord[]) =>
        rs.filter((r) => r.kind === 'extent' && r.offset === 7 * 1024 * 1024).length;
      const first = await take(src, (r) => r.kind === 'extent' && r.offset === 7 * 1024 * 1024);
      expect(scanned(first)).toBe(1);
      await src.rewind();
      expect(scanned(await take(src, () => false))).toBe(1);
      await src.close();
      await s.close();
      await j.close();
    });
  }
});
