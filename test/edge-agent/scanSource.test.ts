import { readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRACK_BLOCK } from '../../edge-agent/shadowIndex';
import type { AgentDisk, ChangeRecord } from '../../edge-agent/changeSource';
import { ScanSource } from '../../edge-agent/scanSource';
import { debugfsWrite, makeExt4Image } from '../../local/images/ext4';
import { mixedData, tempDir } from './support/testData';

/** One full pass: every record up to the pass's idle marker, committed as the agent would. */
async function pass(src: ScanSource): Promise<ChangeRecord[]> {
  const out: ChangeRecord[] = [];
  const ac = new AbortController();
  for await (const r of src.changes(ac.signal)) {
    out.push(r);
    if (r.kind === 'idle') {
      src.committed(r.pos);
      break;
    }
  }
  await src.checkpoint();
  return out;
}

function blocksOf(recs: ChangeRecord[]): { data: Set<number>; zero: Set<number> } {
  const data = new Set<number>();
  const zero = new Set<number>();
  for (const r of recs) {
    if (r.kind !== 'extent') continue;
    for (let o = r.offset; o < r.offset + r.length; o += TRACK_BLOCK)
      (r.data ? data : zero).add(o / TRACK_BLOCK);
  }
  return { data, zero };
}

/** Writes `blocks` tracking blocks of mixed data at `offset` of the image. */
function writeMixed(image: string, offset: number, blocks = 1): void {
  const fd = openSync(image, 'r+');
  writeSync(fd, mixedData(blocks * TRACK_BLOCK), 0, blocks * TRACK_BLOCK, offset);
  closeSync(fd);
}

function changedBlocks(a: Buffer, b: Buffer): Set<number> {
  const s = new Set<number>();
  for (let o = 0; o < a.length; o += TRACK_BLOCK) {
    if (!a.subarray(o, o + TRACK_BLOCK).equals(b.subarray(o, o + TRACK_BLOCK)))
      s.add(o / TRACK_BLOCK);
  }
  return s;
}

describe('scan change source', { timeout: 180_000 }, () => {
  let dir: string;
  let image: string;
  let disk: AgentDisk;

  beforeAll(async () => {
    dir = await tempDir('scan');
    image = path.join(dir, 'disk.img');
    makeExt4Image(image, 48 * 2 ** 20, { fill: 0 });
    disk = { id: 'd1', path: image, sizeBytes: 48 * 2 ** 20, sectorSize: 512, generation: 1 };
  }, 180_000);
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  it('initial pass emits exactly the non-zero blocks, data matching the image', async () => {
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    const recs = await pass(src);
    const img = readFileSync(image);
    const nonZero = new Set<number>();
    for (let o = 0; o < img.length; o += TRACK_BLOCK)
      if (img.subarray(o, o + TRACK_BLOCK).some((x) => x !== 0)) nonZero.add(o / TRACK_BLOCK);
    const { data, zero } = blocksOf(recs);
    expect(data).toEqual(nonZero);
    expect(zero.size).toBe(0); // a new generation's replica is already zero
    for (const r of recs) {
      if (r.kind === 'extent' && r.data)
        expect(r.data.equals(img.subarray(r.offset, r.offset + r.length))).toBe(true);
    }
    // Adjacent changed blocks are coalesced into large extents.
    expect(recs.filter((r) => r.kind === 'extent').length).toBeLessThan(nonZero.size);
    // Nothing changed: nothing to send.
    expect(blocksOf(await pass(src)).data.size).toBe(0);
    await src.close();
  });

  it('after debugfs writes, a fresh process finds exactly the changed blocks', async () => {
    const before = readFileSync(image);
    debugfsWrite(image, 'one.bin', mixedData(1024 * 1024 + 777));
    debugfsWrite(image, 'two.bin', mixedData(200 * 1024));
    const after = readFileSync(image);
    const expected = changedBlocks(before, after);
    expect(expected.size).toBeGreaterThan(10);
    // Reopen: the index persisted by checkpoint() is what the next run compares with.
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    const { data, zero } = blocksOf(await pass(src));
    expect(new Set([...data, ...zero])).toEqual(expected);
    await src.close();
  });

  it('blocks that became zero travel as one coalesced zero range', async () => {
    const start = 40 * 2 ** 20;
    writeMixed(image, start, 3);
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    expect(blocksOf(await pass(src)).data).toEqual(
      new Set([0, 1, 2].map((i) => start / TRACK_BLOCK + i)),
    );
    const fd2 = openSync(image, 'r+');
    writeSync(fd2, Buffer.alloc(3 * TRACK_BLOCK), 0, 3 * TRACK_BLOCK, start);
    closeSync(fd2);
    const recs = (await pass(src)).filter((r) => r.kind === 'extent');
    expect(recs).toEqual([
      {
        kind: 'extent',
        pos: expect.any(Number),
        diskId: 'd1',
        offset: start,
        length: 3 * TRACK_BLOCK,
      },
    ]);
    await src.close();
  });

  it('uncommitted or invalidated records are produced again', async () => {
    writeMixed(image, 30 * 2 ** 20);
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    const ac = new AbortController();
    let first: ChangeRecord | undefined;
    for await (const r of src.changes(ac.signal)) {
      if (r.kind === 'extent') first ??= r;
      if (r.kind === 'idle') break;
    }
    // Not committed, then handed back (spool full): the next pass must emit it again.
    expect(first).toMatchObject({ offset: 30 * 2 ** 20 });
    src.invalidate('d1', 30 * 2 ** 20, TRACK_BLOCK);
    await src.checkpoint();
    const again = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    expect(blocksOf(await pass(again)).data).toEqual(new Set([(30 * 2 ** 20) / TRACK_BLOCK]));
  });

  it('records handed to a loop that failed are produced again after a rewind', async () => {
    writeMixed(image, 31 * 2 ** 20);
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    const ac = new AbortController();
    for await (const r of src.changes(ac.signal)) {
      if (r.kind === 'extent' && r.offset === 31 * 2 ** 20) break; // the loop fails on it
      if (r.kind === 'idle') break;
    }
    await src.rewind();
    // The next pass (same process) sends it again, and its commit does not cover the lost one.
    expect(blocksOf(await pass(src)).data).toContain((31 * 2 ** 20) / TRACK_BLOCK);
  });

  it('a bookmark handed to a loop that failed comes again after a rewind, and only then is it decided', async () => {
    const src = await ScanSource.open([disk], path.join(dir, 'index'), { intervalMs: 10 });
    let decided = false;
    void src.requestBookmark({ id: 'bm-lost', consistency: 'app' }).then(() => (decided = true));
    const ac = new AbortController();
    for await (const r of src.changes(ac.signal)) if (r.kind === 'bookmark') break; // the loop fails
    await src.rewind();
    expect(decided).toBe(false); // a freeze hook still holds the application
    const again: ChangeRecord[] = [];
    for await (const r of src.changes(ac.signal)) {
      again.push(r);
      if (r.kind === 'idle') break;
    }
    expect(again.filter((r) => r.kind === 'bookmark').map((r) => r.id)).toEqual(['bm-lost']);
    expect(decided).toBe(true);
  });

  it('a lost index of a disk that already sent batches compares every block again', async () => {
    const lostDir = path.join(dir, 'lost');
    const fresh = await ScanSource.open([disk], lostDir, { intervalMs: 10 });
    expect(blocksOf(await pass(fresh)).zero.size).toBe(0);
    await fsp.rm(lostDir, { recursive: true });
    const lost = await ScanSource.open([disk], lostDir, {
      intervalMs: 10,
      sentBefore: () => true,
    });
    const { data, zero } = blocksOf(await pass(lost));
    // Blocks that are zero now may hold old data in the replica: they are sent as zero ranges.
    expect(data.size + zero.size).toBe(disk.sizeBytes / TRACK_BLOCK);
    expect(zero.size).toBeGreaterThan(0);
  });

  it('holds no index in memory once its records are committed and checkpointed', async () => {
    const memDir = path.join(dir, 'mem');
    const src = await ScanSource.open([disk], memDir, { intervalMs: 10 });
    expect(src.indexPagesInMemory).toBe(0); // nothing loaded at open (2 GiB per TiB of disk)
    const ac = new AbortController();
    let last = 0;
    for await (const r of src.changes(ac.signal)) {
      if (r.kind === 'idle') break;
      last = r.pos;
    }
    // Emitted, not committed: those digests are in memory, and a second pass skips them.
    expect(src.indexPagesInMemory).toBeGreaterThan(0);
    const second: ChangeRecord[] = [];
    for await (const r of src.changes(ac.signal)) {
      if (r.kind === 'idle') break;
      second.push(r);
    }
    expect(second).toEqual([]);
    src.committed(last);
    await src.checkpoint();
    expect(src.indexPagesInMemory).toBe(0);
    expect(blocksOf(await pass(src)).data.size).toBe(0);
    await src.close();
  });
});
