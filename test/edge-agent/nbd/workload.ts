import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Seeded PRNG (mulberry32): the same seed gives the same workload, so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Op =
  | { kind: 'write'; offset: number; length: number; data: Buffer; file: string; fua: boolean }
  | { kind: 'zero'; offset: number; length: number; trim: boolean }
  | { kind: 'flush' };

/**
 * A random workload of unique writes (every write's bytes are random, so any misplaced or
 * stale block changes the digest), zero writes, discards and flushes; offsets are
 * 512-aligned and biased to a hot region so writes overwrite each other.
 */
export function makeWorkload(seed: number, count: number, diskSize: number, dir: string): Op[] {
  const rnd = prng(seed);
  const ops: Op[] = [];
  const sectors = diskSize / 512;
  for (let i = 0; i < count; i++) {
    const r = rnd();
    if (r < 0.08) {
      ops.push({ kind: 'flush' });
      continue;
    }
    const hot = rnd() < 0.6;
    const maxLen = rnd() < 0.8 ? 16 : 512; // sectors: mostly small, some 256 KiB
    const length = (1 + Math.floor(rnd() * maxLen)) * 512;
    const span = hot ? Math.min(sectors, 2048) : sectors;
    const offset = Math.min(Math.floor(rnd() * span), sectors - length / 512) * 512;
    if (r < 0.16) {
      ops.push({ kind: 'zero', offset, length, trim: rnd() < 0.5 });
      continue;
    }
    const data = Buffer.alloc(length);
    for (let j = 0; j < length; j += 4) data.writeUInt32LE((rnd() * 0x100000000) >>> 0, j);
    const file = join(dir, `pat-${seed}-${i}`);
    writeFileSync(file, data);
    ops.push({ kind: 'write', offset, length, data, file, fua: rnd() < 0.1 });
  }
  return ops;
}

export function qemuIoCommand(op: Op): string {
  switch (op.kind) {
    case 'write':
      return `write ${op.fua ? '-f ' : ''}-s ${op.file} ${op.offset} ${op.length}`;
    case 'zero':
      return op.trim ? `discard ${op.offset} ${op.length}` : `write -z ${op.offset} ${op.length}`;
    case 'flush':
      return 'flush';
  }
}

export function isChange(op: Op): op is Exclude<Op, { kind: 'flush' }> {
  return op.kind !== 'flush';
}

/** Applies an op to an in-memory model of the disk. */
export function applyOp(model: Buffer, op: Op): void {
  if (op.kind === 'write') op.data.copy(model, op.offset);
  else if (op.kind === 'zero') model.fill(0, op.offset, op.offset + op.length);
}

/** sha256 of the model after the first `k` change ops of `ops`, for every k asked. */
export function digestsAfter(initial: Buffer, ops: Op[], ks: number[]): Map<number, string> {
  const want = new Set(ks);
  const out = new Map<number, string>();
  const model = Buffer.from(initial);
  let k = 0;
  const snap = () => {
    if (want.has(k)) out.set(k, createHash('sha256').update(model).digest('hex'));
  };
  snap();
  for (const op of ops) {
    if (!isChange(op)) continue;
    applyOp(model, op);
    k++;
    snap();
  }
  return out;
}
