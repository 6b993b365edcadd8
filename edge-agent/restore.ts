import { promises as fsp } from 'node:fs';
import { DIGEST_BLOCK, blockCount, blockDigest, treeDigest } from '../core/disk/digest';
import { HavenError } from '../core/errors';
import type { ControlPlaneClient } from './controlPlaneClient';
import { diskFacts } from './diskInfo';
import type { Progress } from './progress';

export const RESTORE_CHUNK = 4 * 1024 * 1024;
const VHD_FOOTER = 512;

export interface RestoreResult {
  pointId: string;
  diskId: string;
  target: string;
  sizeBytes: number;
  bytesRead: number;
  bytesWritten: number;
  blocksWritten: number;
  digest: string;
  verified: boolean;
}

/**
 * Restores one disk of a recovery point to PATH (file or block device): reads the point's
 * snapshot through the read URL the control plane hands out, in 4 MiB ranges, writes only
 * the 64 KiB blocks that differ from what PATH already holds (failback onto an older copy
 * moves only the difference), never reads past the disk size (the VHD footer stays out),
 * and proves the result with the digest tree (core/disk/digest.ts) against the point.
 */
export async function restoreDisk(
  api: ControlPlaneClient,
  machineId: string,
  pointId: string,
  diskId: string,
  target: string,
  progress: Progress,
  opts: { parallel?: number; fetchImpl?: typeof fetch } = {},
): Promise<RestoreResult> {
  const point = await api.recoveryPoint(machineId, pointId);
  if (!point) throw new HavenError('not-found', `Recovery point '${pointId}' does not exist.`);
  const pd = point.disks?.find((d) => d.diskId === diskId);
  if (point.disks && !pd)
    throw new HavenError('not-found', `Recovery point '${pointId}' has no disk '${diskId}'.`);
  const ru = await api.readUrl(machineId, pointId, diskId);
  const f = opts.fetchImpl ?? fetch;
  let size = pd?.sizeBytes ?? ru.sizeBytes;
  if (size === undefined) {
    const head = await f(ru.url, { method: 'HEAD' });
    if (!head.ok)
      throw new HavenError(
        'transient',
        `The replica snapshot is not readable (HTTP ${head.status}).`,
      );
    size = Number(head.headers.get('content-length')) - VHD_FOOTER;
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
    throw new HavenError(
      'validation',
      `The recovery point gives no usable size for disk '${diskId}'.`,
    );
  }
  const st = await fsp.stat(target).catch(() => undefined);
  const isDevice = st?.isBlockDevice() ?? false;
  if (isDevice) {
    const dev = await diskFacts(target);
    if (dev.sizeBytes < size) {
      throw new HavenError(
        'validation',
        `Device ${target} holds ${dev.sizeBytes} bytes; the disk needs ${size}.`,
      );
    }
  }
  const fh = await fsp.open(target, st ? 'r+' : 'w+', 0o600);
  const result: RestoreResult = {
    pointId,
    diskId,
    target,
    sizeBytes: size,
    bytesRead: 0,
    bytesWritten: 0,
    blocksWritten: 0,
    digest: '',
    verified: false,
  };
  try {
    if (!isDevice) {
      const cur = (await fh.stat()).size;
      if (cur !== size) await fh.truncate(size);
    }
    const digests: Buffer[] = new Array<Buffer>(blockCount(size));
    const chunks = Math.ceil(size / RESTORE_CHUNK);
    let next = 0;
    let done = 0;
    progress.start(size, `restore ${diskId}`);
    const worker = async () => {
      const local = Buffer.allocUnsafe(RESTORE_CHUNK);
      for (;;) {
        const i = next++;
        if (i >= chunks) return;
        const off = i * RESTORE_CHUNK;
        const len = Math.min(RESTORE_CHUNK, size - off);
        const remote = await fetchRange(f, ru.url, off, len);
        result.bytesRead += len;
        const { bytesRead } = await fh.read(local, 0, len, off);
        for (let b = 0; b < len; b += DIGEST_BLOCK) {
          const bl = Math.min(DIGEST_BLOCK, len - b);
          const want = remote.subarray(b, b + bl);
          digests[(off + b) / DIGEST_BLOCK] = blockDigest(want);
          const have = b + bl <= bytesRead ? local.subarray(b, b + bl) : undefined;
          if (have && have.equals(want)) continue;
          await fh.write(want, 0, bl, off + b);
          result.bytesWritten += bl;
          result.blocksWritten++;
        }
        done += len;
        progress.update(done);
      }
    };
    await Promise.all(Array.from({ length: opts.parallel ?? 4 }, worker));
    await fh.datasync();
    progress.stop();
    result.digest = treeDigest(digests, size);
    // A point listed before it was materialized has no digest yet: the read URL (which waited
    // for the materialization) carries it.
    const expected = pd?.sha256 ?? pd?.digest ?? ru.sha256;
    if (expected) {
      if (expected !== result.digest) {
        throw new HavenError(
          'integrity',
          `Restored disk '${diskId}' does not match recovery point '${pointId}' (digest ${result.digest.slice(0, 12)}… ≠ ${expected.slice(0, 12)}…).`,
        );
      }
      result.verified = true;
    }
    return result;
  } finally {
    await fh.close();
  }
}

async function fetchRange(f: typeof fetch, url: string, off: number, len: number): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await f(url, {
        headers: { range: `bytes=${off}-${off + len - 1}`, 'x-ms-version': '2021-08-06' },
      });
      if (res.status !== 206 && res.status !== 200)
        throw new HavenError(
          res.status >= 500 ? 'transient' : 'forbidden',
          `Reading the replica snapshot failed (HTTP ${res.status}).`,
        );
      let b = Buffer.from(await res.arrayBuffer());
      if (res.status === 200) b = b.subarray(off, off + len);
      if (b.length !== len)
        throw new HavenError('transient', `Short read from the replica snapshot at ${off}.`);
      return b;
    } catch (e) {
      if (attempt >= 5 || (e instanceof HavenError && !e.retryable)) throw e;
      await new Promise((r) => setTimeout(r, 300 * 2 ** attempt));
    }
  }
}
