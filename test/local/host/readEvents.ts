import { existsSync, readFileSync } from 'node:fs';

/** The JSON lines a fixture app recorded (fixtures/record.ts); none while the file is missing. */
export function readEvents<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
