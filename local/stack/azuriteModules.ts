import { dirname } from 'node:path';

/** Resolves a module as Azurite's own code does (from its directory). */
export function azuriteResolve(id: string): string {
  return require.resolve(id, { paths: [dirname(require.resolve('azurite/package.json'))] });
}

/**
 * Replaces the export of a module Azurite loads as a function, in the module cache, before
 * Azurite's modules take it (they do at require time). `patch` names the file to review when
 * the module changes shape.
 */
export function replaceFunctionModule<F>(id: string, replace: (original: F) => F, patch: string) {
  const path = azuriteResolve(id);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const original = require(path) as unknown;
  const cached = require.cache[path];
  if (typeof original !== 'function' || !cached) {
    throw new Error(`${id} is not a function module: review ${patch}`);
  }
  cached.exports = replace(original as F);
}
