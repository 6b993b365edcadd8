import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isVhdFooter, replicaBlobSize, replicaFooter } from '../../../core/disk/vhdFooter';

const MiB = 1024 * 1024;

describe('fixed VHD footer of replica blobs', () => {
  it('has the cookie, fixed disk type, sizes, spec CHS geometry and a valid checksum', () => {
    const f = replicaFooter(10 * MiB - 512, 'm/d/g1.vhd', Date.UTC(2026, 0, 1));
    expect(f.length).toBe(512);
    expect(f.toString('ascii', 0, 8)).toBe('conectix');
    expect(f.readUInt32BE(60)).toBe(2); // fixed
    expect(Number(f.readBigUInt64BE(40))).toBe(10 * MiB); // original size: rounded up to 1 MiB
    expect(Number(f.readBigUInt64BE(48))).toBe(10 * MiB);
    // 20480 sectors: 17 sectors/track, 4 heads, 301 cylinders (VHD spec appendix).
    expect([f.readUInt16BE(56), f.readUInt8(58), f.readUInt8(59)]).toEqual([301, 4, 17]);
    let sum = 0;
    for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += f[i]!;
    expect(f.readUInt32BE(64)).toBe(~sum >>> 0);
    expect(isVhdFooter(f)).toBe(true);
    const corrupted = Buffer.from(f);
    corrupted[100] = corrupted[100]! ^ 1;
    expect(isVhdFooter(corrupted)).toBe(false);
    // Deterministic: a re-run after a crash writes the same bytes.
    expect(replicaFooter(10 * MiB - 512, 'm/d/g1.vhd', Date.UTC(2026, 0, 1)).equals(f)).toBe(true);
    expect(replicaBlobSize(10 * MiB - 512)).toBe(10 * MiB + 512);
  });

  it('is accepted by qemu-img as a fixed VHD of the rounded-up size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vhd-'));
    try {
      const diskSize = 3 * MiB + 4096;
      const file = join(dir, 'replica.vhd');
      const blob = Buffer.alloc(replicaBlobSize(diskSize));
      replicaFooter(diskSize, 'm/d/g1.vhd', Date.UTC(2026, 0, 1)).copy(blob, blob.length - 512);
      writeFileSync(file, blob);
      const info = JSON.parse(
        execFileSync(
          'qemu-img',
          [
            'info',
            '--output=json',
            '--image-opts',
            `driver=vpc,force_size_calc=current_size,file.filename=${file}`,
          ],
          {
            encoding: 'utf8',
          },
        ),
      ) as { format: string; 'virtual-size': number };
      expect(info.format).toBe('vpc');
      expect(info['virtual-size']).toBe(4 * MiB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
