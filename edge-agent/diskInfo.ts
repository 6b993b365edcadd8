import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { HavenError } from '../core/errors';

export interface DiskFacts {
  path: string;
  sizeBytes: number;
  sectorSize: number;
  isBlockDevice: boolean;
  /** Stable identity: device serial/WWN when the kernel exposes one, else the resolved path. */
  identity: string;
}

/**
 * Size and logical sector size of a block device (from /sys/block) or a raw image file
 * (512-byte sectors). Sizes are rounded down to 512: the replica is sector-addressed.
 */
export async function diskFacts(p: string): Promise<DiskFacts> {
  const real = await fsp.realpath(p).catch(() => {
    throw new HavenError('not-found', `Disk ${p} does not exist.`);
  });
  const st = await fsp.stat(real);
  if (st.isBlockDevice()) {
    const name = path.basename(real);
    const sys = await sysBlockDir(name);
    const sectors = Number((await fsp.readFile(path.join(sys, 'size'), 'utf8')).trim());
    const queue = path.join(
      sys.includes('/block/') && !(await exists(path.join(sys, 'queue'))) ? path.dirname(sys) : sys,
      'queue',
    );
    const sectorSize =
      Number(
        (
          await fsp.readFile(path.join(queue, 'logical_block_size'), 'utf8').catch(() => '512')
        ).trim(),
      ) || 512;
    const serial = (
      await fsp.readFile(path.join(sys, 'device', 'wwid'), 'utf8').catch(() => '')
    ).trim();
    // /sys/block/*/size is in 512-byte units whatever the logical sector size.
    return {
      path: real,
      sizeBytes: sectors * 512,
      sectorSize,
      isBlockDevice: true,
      identity: serial || real,
    };
  }
  if (!st.isFile())
    throw new HavenError('validation', `Disk ${p} is neither a block device nor a raw image file.`);
  if (st.size < 512)
    throw new HavenError('validation', `Disk image ${p} is smaller than one sector.`);
  return {
    path: real,
    sizeBytes: Math.floor(st.size / 512) * 512,
    sectorSize: 512,
    isBlockDevice: false,
    identity: real,
  };
}

async function exists(p: string) {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}

async function sysBlockDir(name: string): Promise<string> {
  const direct = `/sys/block/${name}`;
  if (await exists(direct)) return direct;
  // A partition: /sys/class/block/<part> links into its parent disk's directory.
  return fsp.realpath(`/sys/class/block/${name}`);
}

/** Disk id the control plane accepts ([A-Za-z0-9][A-Za-z0-9_-]{0,63}): readable name + hash of identity and size. */
export function diskIdFor(facts: DiskFacts): string {
  const base =
    path
      .basename(facts.path)
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 40) || 'disk';
  const h = createHash('sha256')
    .update(`${facts.identity}|${facts.sizeBytes}`)
    .digest('hex')
    .slice(0, 12);
  return `${base}-${h}`;
}
