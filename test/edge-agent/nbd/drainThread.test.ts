import { describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { truncateSync, writeFileSync } from 'node:fs';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { JournalDrain } from '../../../edge-agent/nbd/journalDrain';
import { tempDir } from './helpers';

const SIZE = 8 * 1024 * 1024;

/** The stream until the source is idle and has read everything, data as sha256. */
async function stream(source: JournalChangeSource): Promise<string[]> {
  const ac = new AbortController();
  const out: string[] = [];
  for await (const r of source.changes(ac.signal)) {
    if (r.kind === 'idle') {
      if (source.readLsn > source.journal.lastLsn) break;
      continue;
    }
    if (r.kind === 'bookmark') out.push(`bookmark ${r.id}`);
    else
      out.push(
        `${r.diskId} ${r.offset}+${r.length} ${r.data ? createHash('sha256').update(r.data).digest('hex') : 'zero'}`,
      );
  }
  ac.abort();
  return out;
}

/** A journal of `n` random 4–64 KiB writes on an 8 MiB disk, and its splitter. */
async function journalWith(n: number, segmentBytes = 1024 * 1024) {
  const dir = tempDir();
  const image = join(dir, 'disk.img');
  writeFileSync(image, '');
  truncateSync(image, SIZE);
  const j = MachineJournal.open({ dir: join(dir, 'j'), segmentBytes });
  const s = WriteSplitter.open(j, 'd0', image, { initialSync: false });
  /** `count` writes of `size` bytes (default: 4–64 KiB each, at random). */
  const write = async (count: number, size?: number) => {
    for (let i = 0; i < count; i++) {
      const len = size ?? 4096 * (1 + randomInt(16));
      await s.write(4096 * randomInt((SIZE - len) / 4096), randomBytes(len), false);
    }
  };
  await write(n);
  return { j, s, write };
}

describe('the journal drain in its own thread', () => {
  it('gives the same stream as the drain on the calling thread, across segments, windows and a bookmark', async () => {
    // Small segments and windows: the thread follows several segment files and cuts often.
    const { j, s } = await journalWith(0, 256 * 1024);
    let seed = 0;
    for (let i = 0; i < 300; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const len = (1 + (seed % 32)) * 4096; // 4-128 KiB: payloads eager and lazily read
      const off = (seed % ((SIZE - len) / 4096)) * 4096;
      if (i % 37 === 5) await s.writeZeroes(off, len, false);
      else await s.write(off, randomBytes(len), false);
      if (i === 150)
        j.insertBookmark({ id: 'mid', consistency: 'crash', createdAt: '2026-01-01T00:00:00Z' });
    }
    const opts = { windowMs: 0, maxWindowBytes: 512 * 1024 };
    const threaded = new JournalChangeSource(j, opts);
    const inline = new JournalChangeSource(j, { ...opts, drainThread: false });
    const a = await stream(threaded);
    const b = await stream(inline);
    expect(a.length).toBeGreaterThan(10);
    expect(a).toContain('bookmark mid');
    expect(a).toEqual(b);
    expect(threaded.stats).toEqual(inline.stats);
    await threaded.close();
    await inline.close();
    await s.close();
    await j.close();
  });
});

describe('reused memory in the drain', () => {
  /** A drain that reuses buffers beside one that never does, polled alike over one journal. */
  async function pair(n: number, maxWindowBytes: number) {
    const { j, s, write } = await journalWith(n);
    const snapshot = () => {
      j.flushBatch();
      return {
        lastLsn: j.lastLsn,
        segments: j.segmentList().map((x) => ({ ...x })),
        disks: j.disks().map((d) => ({ index: d.index, diskId: d.diskId })),
      };
    };
    const opts = { maxWindowBytes, maxExtentBytes: 4 * 1024 * 1024 };
    const drain = new JournalDrain(j.releasedLsn + 1, opts);
    const reference = new JournalDrain(j.releasedLsn + 1, opts);
    const poll = (d: JournalDrain, maxRecords: number) =>
      d.poll({ snapshot: snapshot(), suppressBookmarksUntil: 0, maxItems: 4096, maxRecords });
    const hashes = (r: ReturnType<JournalDrain['poll']>) =>
      r.items.flatMap((it) =>
        it.kind === 'set'
          ? it.set.extents.map((e) =>
              e.kind === 'data' ? createHash('sha256').update(e.data).digest('hex') : 'zero',
            )
          : [],
      );
    return {
      drain,
      reference,
      write,
      /** Polls both to the end: each poll's bytes equal the reference's (whose buffers are never refilled). */
      same: (maxRecords: number) => {
        for (let polls = 0; drain.nextLsn <= j.lastLsn; polls++) {
          expect(hashes(poll(drain, maxRecords))).toEqual(hashes(poll(reference, maxRecords)));
          drain.recycle();
          expect(polls).toBeLessThan(1000);
        }
      },
      close: async () => {
        drain.close();
        reference.close();
        await s.close();
        await j.close();
      },
    };
  }

  it('reuses read-ahead buffers once a poll was copied out, and the data read stays right', async () => {
    // Windows of one record (always empty after a poll) and polls of 37 records: a poll often
    // ends inside a read-ahead that later records still lie in, and then recycles.
    const p = await pair(300, 1);
    p.same(37);
    expect(p.reference.readAheadsAllocated).toBeGreaterThan(2); // ~10 MiB: several read-aheads
    // Then polls of ~650 KB (40 writes of 16 KiB, segments of 1 MiB): two refills at the most
    // (one more when the poll crosses into the next segment). A poll that crossed leaves two
    // spares, which cover every later poll; two polls always cross once (1.3 MB > 1 MiB), while
    // one may not (with a single spare, the next crossing allocated: 1 run in 14).
    for (let round = 0; round < 2; round++) {
      await p.write(40, 16384);
      p.same(4096);
    }
    const warm = p.drain.readAheadsAllocated;
    const referenceWarm = p.reference.readAheadsAllocated;
    for (let round = 0; round < 3; round++) {
      await p.write(40, 16384);
      p.same(4096);
    }
    expect(p.drain.readAheadsAllocated).toBe(warm);
    expect(p.reference.readAheadsAllocated - referenceWarm).toBeGreaterThanOrEqual(3);
    await p.close();
  });

  it('keeps the read-aheads a window still holds across polls', async () => {
    // Windows of 1 MiB, polls of 5 records: most polls end with a window open on older buffers.
    const p = await pair(600, 1024 * 1024);
    p.same(5);
    expect(p.drain.readAheadsAllocated).toBeLessThan(p.reference.readAheadsAllocated);
    await p.close();
  });

  it('never changes bytes the agent still holds while released pack chunks are filled again', async () => {
    const { j, s } = await journalWith(1500);
    // Small windows and polls of 256 sets: the stream takes several polls, chunks come back between.
    const source = new JournalChangeSource(j, { windowMs: 0, maxWindowBytes: 64 * 1024 });
    const inline = new JournalChangeSource(j, {
      windowMs: 0,
      maxWindowBytes: 64 * 1024,
      drainThread: false,
    });
    const ac = new AbortController();
    const held: Array<{ data: Buffer; hash: string; release?: () => void }> = [];
    const seen: string[] = [];
    let released = 0;
    for await (const r of source.changes(ac.signal)) {
      if (r.kind === 'idle') {
        if (source.readLsn > j.lastLsn) break;
        continue;
      }
      if (r.kind !== 'extent' || !r.data) continue;
      const hash = createHash('sha256').update(r.data).digest('hex');
      seen.push(`${r.offset} ${hash}`);
      held.push({ data: r.data, hash, release: r.release });
      // Released 200 records later, as a batcher seals them: by then chunks are being refilled.
      if (held.length > 200) {
        const h = held.shift()!;
        expect(createHash('sha256').update(h.data).digest('hex')).toBe(h.hash);
        h.release?.();
        released++;
      }
    }
    ac.abort();
    expect(released).toBeGreaterThan(1000);
    for (const h of held) expect(createHash('sha256').update(h.data).digest('hex')).toBe(h.hash);
    const expected: string[] = [];
    const ac2 = new AbortController();
    for await (const r of inline.changes(ac2.signal)) {
      if (r.kind === 'idle') {
        if (inline.readLsn > j.lastLsn) break;
        continue;
      }
      if (r.kind === 'extent' && r.data)
        expected.push(`${r.offset} ${createHash('sha256').update(r.data).digest('hex')}`);
    }
    ac2.abort();
    expect(seen).toEqual(expected);
    await source.close();
    await inline.close();
    await s.close();
    await j.close();
  });
});
