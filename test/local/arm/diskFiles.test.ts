import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { afterAll, describe, expect, it } from 'vitest';
import { DIGEST_BLOCK, writeDigestMap } from '../../../local/arm/diskFiles';

/**
 * The block digest map of an incremental snapshot reads only the blocks the file's extent map
 * says hold data; it must equal the map of a full read, block for block, holes included.
 */
const dir = mkdtempSync(join(tmpdir(), 'haven-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every block read and hashed (the last one zero-padded to 64 KiB). */
function fullMap(file: string): Buffer {
  const data = readFileSync(file);
  const blocks = Math.ceil(data.length / DIGEST_BLOCK);
  const map = Buffer.alloc(blocks * 8);
  for (let b = 0; b < blocks; b++) {
    const block = Buffer.alloc(DIGEST_BLOCK);
    data.copy(block, 0, b * DIGEST_BLOCK, (b + 1) * DIGEST_BLOCK);
    map.writeBigUInt64BE(xxh64(block), b * 8);
  }
  return map;
}

describe('incremental snapshot digest map', () => {
  const file = join(dir, 'disk.raw');
  const size = 64 * 1024 * 1024 + 3 * 512; // not a whole number of blocks
  const fd = openSync(file, 'w');
  ftruncateSync(fd, size);
  for (const [offset, length] of [
    [0, 512],
    [5 * DIGEST_BLOCK - 100, 300], // straddles two blocks
    [20 * 1024 * 1024, 3 * 1024 * 1024],
    [size - 700, 700], // the partial last block
  ] as const)
    writeSync(fd, randomBytes(length), 0, length, offset);
  closeSync(fd);

  it('reading only the extents with data gives the map of a full read', () => {
    writeDigestMap(file, join(dir, 'sparse.map'));
    expect(readFileSync(join(dir, 'sparse.map')).equals(fullMap(file))).toBe(true);
  });

  it('without filefrag (or its extent map) it reads everything, same map', () => {
    const path = process.env.PATH;
    process.env.PATH = '';
    try {
      writeDigestMap(file, join(dir, 'full.map'));
    } finally {
      process.env.PATH = path;
    }
    expect(readFileSync(join(dir, 'full.map')).equals(fullMap(file))).toBe(true);
  });
});
