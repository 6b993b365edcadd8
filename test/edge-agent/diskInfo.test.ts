import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskFacts, diskIdFor } from '../../edge-agent/diskInfo';
import { tempDir } from './support/testData';

describe('disk facts', { timeout: 120_000 }, () => {
  let dir: string;
  const loops: string[] = [];
  beforeAll(async () => {
    dir = await tempDir('diskinfo');
  });
  afterAll(async () => {
    for (const l of loops) execFileSync('losetup', ['-d', l]);
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('raw image: size rounded to 512, 512-byte sectors, id stable and valid', async () => {
    const img = path.join(dir, 'my disk.img');
    await fsp.writeFile(img, Buffer.alloc(3 * 2 ** 20 + 700));
    const f = await diskFacts(img);
    expect(f).toMatchObject({
      sizeBytes: 3 * 2 ** 20 + 512,
      sectorSize: 512,
      isBlockDevice: false,
    });
    const id = diskIdFor(f);
    expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
    expect(diskIdFor(await diskFacts(img))).toBe(id);
    await expect(diskFacts(path.join(dir, 'missing.img'))).rejects.toThrow(/does not exist/);
  });

  it('block device (loop, 4096-byte logical sectors): size and sector size from /sys/block', async () => {
    const img = path.join(dir, 'dev.img');
    await fsp.writeFile(img, Buffer.alloc(8 * 2 ** 20));
    const dev = execFileSync('losetup', ['-f', '--show', '--sector-size', '4096', img])
      .toString()
      .trim();
    loops.push(dev);
    const f = await diskFacts(dev);
    expect(f).toMatchObject({
      path: dev,
      sizeBytes: 8 * 2 ** 20,
      sectorSize: 4096,
      isBlockDevice: true,
    });
  });
});
