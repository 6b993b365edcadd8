import { existsSync, readFileSync } from 'node:fs';

/** Polls `check` until it returns a truthy value (no timing asserts: the test timeout bounds it). */
type Truthy<T> = Exclude<T, false | undefined | null | 0 | ''>;

export async function waitFor<T>(check: () => T | Promise<T>, intervalMs = 50): Promise<Truthy<T>> {
  for (;;) {
    const v = await check();
    if (v) return v as Truthy<T>;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function readEvents<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
