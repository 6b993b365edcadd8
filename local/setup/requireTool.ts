import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * External programs the stack, the demo and the tests spawn are checked before use, so a
 * missing one reads "install package X" instead of a `spawn … ENOENT` deep inside a step.
 */
export class MissingToolError extends Error {
  constructor(
    readonly tool: string,
    readonly debianPackage: string,
    why: string,
  ) {
    super(
      `'${tool}' is not installed (needed ${why}). Install it with: apt-get install -y ${debianPackage}` +
        ` (or run the project's set-up: npm run setup).`,
    );
    this.name = 'MissingToolError';
  }
}

/** The absolute path of `tool` on PATH (or the path itself when it contains a slash), else undefined. */
export function findTool(tool: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = tool.includes('/')
    ? [tool]
    : [...path.split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean).map((d) => join(d, tool));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `findTool`, or a `MissingToolError` naming the Debian package and why it is needed. */
export function requireTool(tool: string, debianPackage: string, why: string): string {
  const found = findTool(tool);
  if (!found) throw new MissingToolError(tool, debianPackage, why);
  return found;
}
