import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../../edge-agent/spool';
import { segmentPath } from '../../edge-agent/spoolSegments';
import { tempDir } from './support/testData';

const k = { diskId: 'd1', generation: 1 };

describe('spool', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('spool');
  }, 180_000);
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  it('hands the sender an envelope it just appended from memory, up to hotBytes, until it is acknowledged', async () => {
    const d = path.join(dir, 'hot');
    const s = await Spool.open(d, { maxBytes: 64 * 2 ** 20, hotBytes: 50_000 });
    const bodies = [randomBytes(30_000), randomBytes(30_000)];
    const [e1, e2] = [
      await s.append({ ...k, seq: 1 }, bodies[0]!),
      await s.append({ ...k, seq: 2 }, bodies[1]!),
    ];
    // Overwrite both records in the file: only a read of the file sees it.
    const seg = path.join(
      d,
      (await fsp.readdir(d)).find((f) => f.startsWith('seg-'))!,
    );
    const fh = await fsp.open(seg, 'r+');
    for (const e of [e1!, e2!]) await fh.write(Buffer.alloc(e.length, 7), 0, e.length, e.pos);
    await fh.close();
    expect(await s.read(e1!)).toBe(bodies[0]); // the appended buffer itself
    // The second did not fit under hotBytes: it is read from the file.
    expect((await s.read(e2!)).equals(Buffer.alloc(30_000, 7))).toBe(true);
    await s.ack([e1!]);
    expect((await s.read(e1!)).equals(Buffer.alloc(30_000, 7))).toBe(true);
    await s.close();
  });

  it('counts an ack at once, saves it behind the appends queued before it, frees only what is saved', async () => {
    const d = path.join(dir, 'ack');
    // One record a segment: the first segment can go once its ack and checkpoint are saved.
    const s = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 40_000 });
    const e1 = await s.append({ ...k, seq: 1 }, randomBytes(30_000));
    await s.setCheckpoint({ 'd1/1': 1 });
    let appended = false;
    const second = s.append({ ...k, seq: 2 }, randomBytes(30_000)).then(() => (appended = true));
    const saved = s.ack([e1]);
    // At once: the sender goes on without it, and status sees it acknowledged.
    expect(s.pending().map((e) => e.seq)).toEqual([]);
    expect(s.ackedSeq(k)).toBe(1);
    const first = segmentPath(d, e1.segment);
    const exists = () =>
      fsp.stat(first).then(
        () => true,
        () => false,
      );
    expect(await exists()).toBe(true); // not collected before the save
    await saved;
    expect(appended).toBe(true); // the save went behind the append queued before it
    await second;
    expect(s.pending().map((e) => e.seq)).toEqual([2]);
    await s.close();
    const again = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 40_000 });
    expect(again.ackedSeq(k)).toBe(1);
    expect(again.pending().map((e) => e.seq)).toEqual([2]);
    expect(await exists()).toBe(false); // it went with the saved ack
    await again.close();
  });

  it('numbers densely, survives reopen, cuts a torn tail, frees only acked and checkpointed segments', async () => {
    const d = path.join(dir, 'a');
    const s = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 100_000 });
    const bodies: Buffer[] = [];
    for (let i = 1; i <= 10; i++) {
      const b = randomBytes(30_000);
      bodies.push(b);
      expect(s.nextSeq(k)).toBe(i);
      await s.append({ ...k, seq: i }, b);
    }
    await expect(s.append({ ...k, seq: 5 }, Buffer.alloc(1))).rejects.toThrow(/expects seq 11/);
    await s.close();
    // A crash mid-append leaves half a record at the end of the last segment.
    const segs = (await fsp.readdir(d)).filter((f) => f.startsWith('seg-')).sort();
    expect(segs.length).toBeGreaterThan(2);
    await fsp.appendFile(path.join(d, segs.at(-1)!), randomBytes(100));
    const s2 = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 100_000 });
    expect(s2.nextSeq(k)).toBe(11);
    const pending = s2.pending();
    expect(pending.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const e of pending) expect((await s2.read(e)).equals(bodies[e.seq - 1]!)).toBe(true);
    // Acked but not checkpointed: kept (the source may still need to redo them).
    await s2.ack(pending.slice(0, 6));
    expect(s2.pending().map((e) => e.seq)).toEqual([7, 8, 9, 10]);
    const before = s2.bytes();
    await s2.setCheckpoint({ 'd1/1': 6 });
    expect(s2.bytes()).toBeLessThan(before);
    expect(s2.afterCheckpoint().map((e) => e.seq)).toEqual(expect.arrayContaining([7, 8, 9, 10]));
    await s2.close();
    // Everything acked and checkpointed: numbering continues, nothing renumbered.
    const s3 = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 100_000 });
    await s3.ack(s3.pending());
    await s3.setCheckpoint(s3.lastSeqs());
    await s3.close();
    const s4 = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 100_000 });
    expect(s4.pending()).toEqual([]);
    expect(s4.nextSeq(k)).toBe(11);
    expect(s4.bytes()).toBe(0);
    await s4.close();
  });

  it('reports when it is full', async () => {
    const s = await Spool.open(path.join(dir, 'b'), { maxBytes: 100_000 });
    expect(s.hasRoom(60_000)).toBe(true);
    await s.append({ ...k, seq: 1 }, randomBytes(60_000));
    expect(s.hasRoom(60_000)).toBe(false);
    await s.close();
  });

  it('group commit: appends handed over together are written and synced together, in order', async () => {
    const d = path.join(dir, 'c');
    const s = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 200_000 });
    const fh = await fsp.open(path.join(d, 'probe'), 'w');
    const proto = Object.getPrototypeOf(fh) as { datasync: () => Promise<void> };
    await fh.close();
    const sync = proto.datasync;
    let syncs = 0;
    proto.datasync = function (this: unknown) {
      syncs++;
      return sync.call(this);
    };
    try {
      const bodies = Array.from({ length: 12 }, () => randomBytes(40_000));
      // Seqs are taken at the call: the batcher hands sealed batches over without waiting.
      const all = bodies.map((b, i) => s.append({ ...k, seq: i + 1 }, b));
      expect(s.nextSeq(k)).toBe(13);
      const entries = await Promise.all(all);
      expect(entries.map((e) => e.seq)).toEqual(bodies.map((_, i) => i + 1));
      // 12 appends, 3 segments of ≤ 200 kB: far fewer syncs than appends.
      expect(syncs).toBeLessThan(bodies.length / 2);
      for (const e of entries) expect((await s.read(e)).equals(bodies[e.seq - 1]!)).toBe(true);
    } finally {
      proto.datasync = sync;
    }
    await s.close();
    const again = await Spool.open(d, { maxBytes: 64 * 2 ** 20, segmentBytes: 200_000 });
    expect(again.pending().map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    await again.close();
  });
});
