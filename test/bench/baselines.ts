import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';

/** Seconds a command takes, run once (the bench prints rates, not assertions). */
export function timeCommand(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr?.toString().trim()}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function catSeconds(image: string): number {
  return timeCommand('sh', ['-c', `cat "${image}" > /dev/null`]);
}

export function rsyncSeconds(image: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'haven-rsync-'));
  try {
    return timeCommand('rsync', ['--whole-file', '--sparse', image, join(dir, 'copy')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** rsync's delta transfer onto an older copy: the classic "send only what changed" baseline. */
export function rsyncDeltaSeconds(oldImage: string, newImage: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'haven-rsyncd-'));
  try {
    execFileSync('cp', ['--sparse=always', oldImage, join(dir, 'copy')]);
    return timeCommand('rsync', ['--no-whole-file', '--inplace', newImage, join(dir, 'copy')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function resticBackupSeconds(image: string): { initial: number; repoDir: string } {
  const repoDir = mkdtempSync(join(tmpdir(), 'haven-restic-'));
  const env = { RESTIC_PASSWORD: 'bench', RESTIC_REPOSITORY: repoDir };
  timeCommand('restic', ['init', '--quiet'], env);
  const initial = timeCommand('restic', ['backup', '--quiet', image], env);
  return { initial, repoDir };
}

export function resticAgainSeconds(repoDir: string, image: string): number {
  return timeCommand('restic', ['backup', '--quiet', image], {
    RESTIC_PASSWORD: 'bench',
    RESTIC_REPOSITORY: repoDir,
  });
}

/** The emulator's raw write speed: 4 MiB uploadPages, 4 in flight, no Haven code in the way. */
export async function azuriteRawWriteSeconds(connection: string, image: string): Promise<number> {
  const size = statSync(image).size;
  const svc = BlobServiceClient.fromConnectionString(connection);
  const container = svc.getContainerClient(`bench${Date.now()}`);
  await container.createIfNotExists();
  const blob = container.getPageBlobClient('raw.vhd');
  const rounded = Math.ceil(size / 512) * 512;
  await blob.create(rounded);
  const fd = openSync(image, 'r');
  const chunk = 4 * 1024 * 1024;
  const t0 = process.hrtime.bigint();
  try {
    let next = 0;
    const worker = async () => {
      const buf = Buffer.alloc(chunk);
      for (;;) {
        const off = next;
        next += chunk;
        if (off >= size) return;
        const n = readSync(fd, buf, 0, Math.min(chunk, size - off), off);
        const len = Math.ceil(n / 512) * 512;
        await blob.uploadPages(buf.subarray(0, len), off, len);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    closeSync(fd);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await container.delete();
  return secs;
}
