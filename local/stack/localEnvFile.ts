import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const quote = (v: string) =>
  `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/** Writes a dotenv file (values double-quoted: connection strings contain `;` and `=`). */
export function writeLocalEnv(file: string, env: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const lines = [
    '# Written by the Haven local stack at start; connection facts of the running emulators.',
    ...Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`),
  ];
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
}

/** Reads what `writeLocalEnv` wrote (enough dotenv for tools and tests). */
export function parseLocalEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.startsWith('"') && v.endsWith('"')) {
      v = v.slice(1, -1).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out[m[1]!] = v;
  }
  return out;
}
