import type { SpoolEntry } from '../../../edge-agent/spool';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `haven-${prefix}-`));
}

/** Half compressible text, half random: a realistic file payload. */
export function mixedData(bytes: number): Buffer {
  const half = Math.floor(bytes / 2);
  const text = Buffer.from(
    `line ${randomBytes(4).toString('hex')} of some log text, repeated\n`.repeat(
      Math.ceil(half / 40),
    ),
  ).subarray(0, half);
  return Buffer.concat([text, randomBytes(bytes - half)]);
}

/** A spool entry of disk d1, generation 1, as a sink is handed one (where it lies is not read). */
export function spoolEntry(seq: number, length: number): SpoolEntry {
  return { diskId: 'd1', generation: 1, seq, segment: 1, pos: 0, length };
}
