import Module, { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { captureRegistrations, type Registration, type RegistrationSink } from './coreShim';
import type { HostFunction } from './plugin';

export interface LoadedApp {
  sink: RegistrationSink;
  functions: HostFunction[];
  handlers: Map<string, Registration>;
  /** Forgets the app's own modules so a later load in this process evaluates them again. */
  unload(): void;
}

/** Every app-owned module any host loaded in this process (never node_modules). */
const appModules = new Set<string>();

function ensureTypeScript(entries: string[]): void {
  const exts = (Module as unknown as { _extensions: Record<string, unknown> })._extensions;
  if (!entries.some((e) => /\.[cm]?ts$/.test(e)) || exts['.ts']) return;
  // Source entries (tests, `node local/host/main.ts` without --import tsx) need a TS loader.
  const req = createRequire(__filename);
  (req('tsx/cjs/api') as { register(): unknown }).register();
}

export function toHostFunction(reg: Registration): HostFunction {
  const bindings = reg.metadata.bindings;
  const entry = Object.entries(bindings).find(([, b]) => /trigger$/i.test(String(b.type)));
  if (!entry) throw new Error(`Function ${reg.metadata.name} has no trigger binding`);
  const [triggerName, trigger] = entry;
  return {
    name: reg.metadata.name,
    triggerType: String(trigger.type),
    trigger: { ...trigger, name: triggerName },
    bindings,
    retry: reg.metadata.retryOptions,
  };
}

/** Loads the entry modules with the core shim capturing what they register. */
export function loadApp(entries: string[], sink: RegistrationSink): LoadedApp {
  ensureTypeScript(entries);
  const cache = (Module as unknown as { _cache: Record<string, unknown> })._cache;
  for (const p of appModules) delete cache[p];
  const before = new Set(Object.keys(cache));
  const paths = entries.map((e) => resolve(e));
  captureRegistrations(sink, () => {
    for (const p of paths) createRequire(p)(p);
  });
  const mine = new Map(
    Object.keys(cache)
      .filter((k) => !before.has(k) && !/[\\/]node_modules[\\/]/.test(k))
      .map((k) => [k, cache[k]]),
  );
  mine.forEach((_, k) => appModules.add(k));
  const handlers = new Map<string, Registration>();
  for (const r of sink.functions) handlers.set(r.metadata.name.toLowerCase(), r);
  return {
    sink,
    functions: sink.functions.map(toHostFunction),
    handlers,
    unload() {
      // Only our own instances: another host may have loaded the same files since.
      for (const [k, m] of mine) if (cache[k] === m) delete cache[k];
    },
  };
}
