import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent } from '../../edge-agent/agent';
import { AgentState } from '../../edge-agent/agentState';
import { indexFileOf } from '../../edge-agent/generations';
import { IndexFile } from '../../edge-agent/indexFile';
import { TRACK_BLOCK } from '../../edge-agent/shadowIndex';
import { CaptureSink } from '../../edge-agent/captureSink';
import { makeExt4Image } from '../../local/images/ext4';
import { replayDisk } from './support/replay';
import { enrollWithDisk } from './support/runAgent';
import { tempDir } from './support/testData';
import { useFakeControlPlane } from './support/useFakeControlPlane';

const geometry = { trackBlock: 4096, sizeBytes: 4096 * 4000, generation: 3 };
const ENTRIES = 4000;
const at = (n: number) => 32 + n * 8;

describe('index file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('indexfile');
  });
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  const all = async (f: IndexFile) => {
    const a = new BigUint64Array(ENTRIES);
    f.read(0, a);
    return a;
  };
  const open = (file: string, g = geometry, missing?: (i: number) => bigint) =>
    IndexFile.open(path.join(dir, file), g, ENTRIES, missing);

  it("a missing file reads as the caller's values; the first save writes all of it", async () => {
    const f = await open('a.idx', geometry, (i) => BigInt(i + 1));
    expect(f.found).toBe('missing');
    const want = BigUint64Array.from({ length: ENTRIES }, (_, i) => BigInt(i + 1));
    expect(await all(f)).toEqual(want);
    f.write(700, BigUint64Array.of(5n, 6n));
    want.set([5n, 6n], 700);
    await f.save();
    const again = await open('a.idx');
    expect(again.found).toBe('loaded');
    expect(await all(again)).toEqual(want);
    f.close();
    again.close();
  });

  it('memory holds only the pages changed since the last save; saves rewrite those in place', async () => {
    const file = path.join(dir, 'b.idx');
    const f = await open('b.idx', geometry, (i) => BigInt(i + 1));
    await f.save();
    const inode = (await fsp.stat(file)).ino;
    // Scribble on page 5 behind the index's back: only a whole rewrite would restore it.
    const fh = await fsp.open(file, 'r+');
    await fh.write(Buffer.alloc(8, 0xee), 0, 8, at(5 * 512 + 3));
    await fh.close();
    f.write(10, BigUint64Array.of(777n));
    f.write(3999, BigUint64Array.of(999n));
    f.fill(1020, 1030, 4n); // pages 1 and 2
    expect(f.unsavedPages).toBe(4);
    const saving = f.save();
    f.write(11, BigUint64Array.of(888n)); // while the save is in flight: kept for the next one
    await saving;
    expect(f.unsavedPages).toBe(1);
    const b = await fsp.readFile(file);
    expect((await fsp.stat(file)).ino).toBe(inode);
    expect(b.readBigUInt64LE(at(10))).toBe(777n);
    expect(b.readBigUInt64LE(at(3999))).toBe(999n);
    expect(b.readBigUInt64LE(at(1025))).toBe(4n);
    expect(b.subarray(at(5 * 512 + 3), at(5 * 512 + 4)).equals(Buffer.alloc(8, 0xee))).toBe(true);
    const r = new BigUint64Array(3);
    f.read(10, r);
    expect([...r]).toEqual([777n, 888n, 13n]);
    await f.save();
    expect(f.unsavedPages).toBe(0);
    expect((await fsp.readFile(file)).readBigUInt64LE(at(11))).toBe(888n);
    // Nothing unsaved: nothing written.
    const m = (await fsp.stat(file)).mtimeMs;
    await f.save();
    expect((await fsp.stat(file)).mtimeMs).toBe(m);
    f.close();
  });

  it('another geometry reads as all-unknown and is rewritten whole', async () => {
    const five = await open('c.idx', geometry, () => 5n);
    await five.save();
    five.close();
    const other = await open('c.idx', { ...geometry, generation: 4 }, () => 5n);
    expect(other.found).toBe('other-geometry');
    expect((await all(other)).every((x) => x === 0n)).toBe(true);
    await other.save();
    other.close();
    const again = await open('c.idx', { ...geometry, generation: 4 });
    expect(again.found).toBe('loaded');
    expect((await all(again)).every((x) => x === 0n)).toBe(true);
    again.close();
    expect((await open('c.idx')).found).toBe('other-geometry');
  });
});

/** One index page: 512 entries, the unit a checkpoint rewrites. */
const PAGE_BYTES = 512 * 8;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const entry = (file: Buffer, n: number) => file.readBigUInt64LE(at(n));

/** Index pages whose bytes differ between two versions of the file. */
function changedPages(old: Buffer, neu: Buffer): number[] {
  const pages: number[] = [];
  for (let p = 0; at(p * 512) < old.length; p++) {
    const [s, e] = [at(p * 512), Math.min(old.length, at((p + 1) * 512))];
    if (!old.subarray(s, e).equals(neu.subarray(s, e))) pages.push(p);
  }
  return pages;
}

/** A crash after the first half of the dirty pages reached the disk, none of the others. */
function tearPages(old: Buffer, neu: Buffer): Buffer {
  const out = Buffer.from(old);
  const pages = changedPages(old, neu);
  for (const p of pages.slice(0, Math.floor(pages.length / 2)))
    neu.copy(out, at(p * 512), at(p * 512), at(p * 512) + PAGE_BYTES);
  return out;
}

/** As tearPages, and the next dirty page written only up to a byte inside a changed entry. */
function tearMidEntry(old: Buffer, neu: Buffer): Buffer {
  const out = tearPages(old, neu);
  const pages = changedPages(old, neu);
  const p = pages[Math.floor(pages.length / 2)]!;
  let n = p * 512;
  while (entry(old, n) === entry(neu, n)) n++;
  neu.copy(out, at(p * 512), at(p * 512), at(n) + 3);
  return out;
}

async function writeBlock(image: string, block: number, data: Buffer): Promise<void> {
  const fh = await fsp.open(image, 'r+');
  await fh.write(data, 0, TRACK_BLOCK, block * TRACK_BLOCK);
  await fh.close();
}

async function readBlock(image: string, block: number): Promise<Buffer> {
  const fh = await fsp.open(image, 'r');
  const b = Buffer.alloc(TRACK_BLOCK);
  await fh.read(b, 0, TRACK_BLOCK, block * TRACK_BLOCK);
  await fh.close();
  return b;
}

/**
 * A crash inside IndexFile.save() leaves any mix of old and new entries, even an entry written
 * in part. The dangerous one is a stale old entry: a block changed back to the content it
 * describes looks unchanged, while the replica applies the newer batch from the spool. What
 * makes the mix safe is the restart: the spool never heard of the torn checkpoint, so the agent
 * has the source produce every range spooled after the last complete one again.
 */
describe('a checkpoint torn by a crash', { timeout: 300_000 }, () => {
  const env = useFakeControlPlane('torn-index', { pointLag: 0 });
  const SIZE = 16 * 2 ** 20; // 4096 blocks: 8 index pages

  it('loses no change when only some dirty pages were written, or a page in part', async () => {
    const { dir, cp, capture } = env;
    const image = path.join(dir, 'disk.img');
    const stateDir = path.join(dir, 'state');
    // Blocks on index pages 1, 2, 3, 5 and 6; some start with data, some zero.
    const blocks = [1, 2, 3, 5, 6].flatMap((p) => [p * 512 + 7, p * 512 + 100, p * 512 + 300]);
    makeExt4Image(image, SIZE, { fill: 0 });
    for (const [i, b] of blocks.entries())
      if (i % 2) await writeBlock(image, b, randomBytes(TRACK_BLOCK));
    const diskId = await enrollWithDisk(cp, image, ['--state-dir', stateDir]);
    const indexPath = indexFileOf(new AgentState(stateDir).indexDir, diskId, 1);
    const open = () =>
      Agent.open(stateDir, { sink: () => new CaptureSink(capture), log: () => undefined });
    const runOnce = (a: Agent) =>
      a.once({ signal: new AbortController().signal, pointTimeoutMs: 60_000 });
    /** One `run --once`; the replica at its recovery point must be the image, byte for byte. */
    const replicate = async () => {
      const a = await open();
      try {
        const point = await runOnce(a);
        const rep = await replayDisk(capture, diskId, SIZE, cp.dataKey, point.id);
        expect(rep.conflicts).toEqual([]);
        expect(sha256(rep.image)).toBe(sha256(readFileSync(image)));
      } finally {
        await a.close();
      }
    };
    await replicate();

    for (const tear of [tearPages, tearMidEntry]) {
      const before = new Map<number, Buffer>();
      for (const b of blocks) {
        before.set(b, await readBlock(image, b));
        await writeBlock(image, b, randomBytes(TRACK_BLOCK));
      }
      // A run spools those changes, then "crashes" in its checkpoint: the index file is left
      // torn and the spool never hears that a checkpoint covers the new batches.
      const crashed = await open();
      const checkpoint = crashed.source.checkpoint.bind(crashed.source);
      let torn: { old: Buffer; neu: Buffer; file: Buffer } | undefined;
      vi.spyOn(crashed.source, 'checkpoint').mockImplementation(async () => {
        const old = await fsp.readFile(indexPath);
        await checkpoint();
        const neu = await fsp.readFile(indexPath);
        if (old.equals(neu)) return;
        torn = { old, neu, file: tear(old, neu) };
        await fsp.writeFile(indexPath, torn.file);
        throw new Error('simulated crash mid-checkpoint');
      });
      try {
        await expect(runOnce(crashed)).rejects.toThrow('simulated crash');
      } finally {
        await crashed.close();
      }
      const { old, neu, file } = torn!;
      expect(changedPages(old, neu)).toEqual([1, 2, 3, 5, 6]);
      const changed = blocks.filter((b) => entry(old, b) !== entry(neu, b));
      const stale = changed.filter((b) => entry(file, b) === entry(old, b));
      const fresh = changed.filter((b) => entry(file, b) === entry(neu, b));
      const mixed = changed.filter((b) => !stale.includes(b) && !fresh.includes(b));
      expect(changed).toEqual(blocks);
      expect(stale.length).toBeGreaterThan(0);
      expect(fresh.length).toBeGreaterThan(0);
      expect(mixed.length).toBe(tear === tearMidEntry ? 1 : 0);

      // While the agent is down, half of the blocks go back to what they held before: for the
      // stale entries among them the torn index says "unchanged", though the spool holds the
      // newer content the replica will apply.
      const back = blocks.filter((_, i) => i % 2 === 0);
      expect(back.filter((b) => stale.includes(b)).length).toBeGreaterThan(0);
      for (const b of back) {
        await writeBlock(image, b, before.get(b)!);
        if (stale.includes(b)) expect(entry(file, b)).toBe(xxh64(before.get(b)!));
      }
      await replicate();

      // After the restart, the blocks whose entry was stale change again, then all go back to
      // the content their stale entry described: the restart's checkpoints must have replaced it.
      for (const b of stale) await writeBlock(image, b, randomBytes(TRACK_BLOCK));
      await replicate();
      for (const b of stale) await writeBlock(image, b, before.get(b)!);
      await replicate();
    }
  });
});
