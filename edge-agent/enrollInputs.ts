import { promises as fsp } from 'node:fs';
import { HavenError } from '../core/errors';
import { requireSecureUrl } from '../core/requireSecureUrl';

/**
 * The control plane URL an agent may enroll with: the enrollment token goes there, and the
 * credential and the data key come back (core/requireSecureUrl.ts).
 */
export function checkApiUrl(api: string): string {
  return requireSecureUrl(api, '--api');
}

/** Bounds what stdin or a file may hand over: a token is ~80 characters. */
const MAX_TOKEN_BYTES = 4096;

/**
 * The enrollment token: `--token-file F` (a file only its owner reads) or `--token -` (stdin)
 * keep it out of the process list; `--token T` still works where that does not matter.
 */
export async function readEnrollToken(
  flags: { token?: string; tokenFile?: string },
  stdin: () => Promise<string> = readStdin,
): Promise<string> {
  if (flags.token !== undefined && flags.tokenFile !== undefined)
    throw new HavenError('validation', 'Give --token or --token-file, not both.');
  let raw: string;
  if (flags.tokenFile !== undefined) raw = await readTokenFile(flags.tokenFile);
  else if (flags.token === '-') raw = await stdin();
  else if (flags.token !== undefined) raw = flags.token;
  else
    throw new HavenError(
      'validation',
      'An enrollment token is required: --token-file F, --token - (stdin) or --token T.',
    );
  const token = raw.trim();
  if (!token || /\s/.test(token) || token.length > MAX_TOKEN_BYTES)
    throw new HavenError('validation', 'The enrollment token is empty or malformed.');
  return token;
}

async function readTokenFile(file: string): Promise<string> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new HavenError('validation', `--token-file ${file} is not a file.`);
  if (st.size > MAX_TOKEN_BYTES)
    throw new HavenError('validation', `--token-file ${file} is too large for a token.`);
  return fsp.readFile(file, 'utf8');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_TOKEN_BYTES)
      throw new HavenError('validation', 'stdin holds more than a token.');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
