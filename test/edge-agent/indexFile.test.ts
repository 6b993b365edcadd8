import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexFile } from '../../edge-agent/indexFile';
import { tempDir } from './support/testData';

const geometry = { trackBlock: 4096, sizeBytes: 4096 * 4000, generation: 3 };
const ENTRIES = 4000;
const at = (n: number) => 32 + n * 8;

describe('index file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('indexfile');
  });
  afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

  it('a missing file loads as nothing; the first save writes all of it', async () => {
    const f = new IndexFile(path.join(dir, 'a.idx'), geometry, ENTRIES);
    expect(await f.load()).toBeUndefined();
    const a = BigUint64Array.from({ length: ENTRIES }, (_, i) => BigInt(i + 1));
    await f.save(a);
    expect(await new IndexFile(path.join(dir, 'a.idx'), geometry, ENTRIES).load()).toEqual(a);
  });

  it('later saves rewrite only dirty pages, in place', async () => {
    const file = path.join(dir, 'b.idx');
    const f = new IndexFile(file, geometry, ENTRIES);
    const a = BigUint64Array.from({ length: ENTRIES }, (_, i) => BigInt(i + 1));
    await f.save(a);
    const inode = (await fsp.stat(file)).ino;
    // Scribble on page 5 behind the index's back: only a whole rewrite would restore it.
    const fh = await fsp.open(file, 'r+');
    await fh.write(Buffer.alloc(8, 0xee), 0, 8, at(5 * 512 + 3));
    await fh.close();
    a[10] = 777n;
    a[3999] = 999n;
    f.markDirty(10, 11);
    f.markDirty(3999, 4000);
    await f.save(a);
    const b = await fsp.readFile(file);
    expect((await fsp.stat(file)).ino).toBe(inode);
    expect(b.readBigUInt64LE(at(10))).toBe(777n);
    expect(b.readBigUInt64LE(at(3999))).toBe(999n);
    expect(b.subarray(at(5 * 512 + 3), at(5 * 512 + 4)).equals(Buffer.alloc(8, 0xee))).toBe(true);
    // Nothing dirty: nothing written.
    const m = (await fsp.stat(file)).mtimeMs;
    await f.save(a);
    expect((await fsp.stat(file)).mtimeMs).toBe(m);
  });

  it('another geometry reads as all-unknown and is rewritten whole', async () => {
    const file = path.join(dir, 'c.idx');
    await new IndexFile(file, geometry, ENTRIES).save(new BigUint64Array(ENTRIES).fill(5n));
    const other = new IndexFile(file, { ...geometry, generation: 4 }, ENTRIES);
    const loaded = await other.load();
    expect(loaded?.every((x) => x === 0n)).toBe(true);
    await other.save(loaded!);
    const again = await new IndexFile(file, { ...geometry, generation: 4 }, ENTRIES).load();
    expect(again?.every((x) => x === 0n)).toBe(true);
    expect(await new IndexFile(file, geometry, ENTRIES).load()).toEqual(
      new BigUint64Array(ENTRIES),
    );
  });
});
