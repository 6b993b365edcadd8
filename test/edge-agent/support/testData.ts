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
