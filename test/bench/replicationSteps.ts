import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { adminApi } from '../support/adminApi';

/** Steps of the replication bench: a CLI run, waiting for a point, churning an image. */
const execFileP = promisify(execFile);
const MiB = 1024 * 1024;
const BLOCK = 4096;

export async function cli(bin: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(process.execPath, [bin, ...args], {
      maxBuffer: 64 * MiB,
    });
    return stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${bin.split('/').pop()} ${args.slice(0, 2).join(' ')} failed: ${(err.stderr || err.stdout || err.message).trim()}`,
    );
  }
}

/** Polls the point until it is materialized (hydrated); returns when that was seen. */
export async function waitMaterialized(
  target: { apiUrl: string; env: Record<string, string | undefined> },
  machineId: string,
  pointId: string,
): Promise<number> {
  for (const until = Date.now() + 1800_000; Date.now() < until;) {
    const p = await adminApi<{ materialized: boolean }>(
      target,
      'GET',
      `machines/${machineId}/recovery-points/${pointId}`,
    ).catch(() => undefined);
    if (p?.materialized) return Date.now();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`point ${pointId} was not materialized within 30 min`);
}

/** Writes random bytes over `share` of the image's 4 KiB blocks (distinct, random offsets). */
export function churn(image: string, share: number): { blocks: number; bytes: number } {
  const size = statSync(image).size;
  const total = Math.floor(size / BLOCK);
  const n = Math.max(1, Math.round(total * share));
  const picked = new Set<number>();
  while (picked.size < n) picked.add(randomInt(total));
  const fd = openSync(image, 'r+');
  try {
    for (const b of picked) writeSync(fd, randomBytes(BLOCK), 0, BLOCK, b * BLOCK);
  } finally {
    closeSync(fd);
  }
  return { blocks: n, bytes: n * BLOCK };
}
