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
      `${tool} is not installed (needed ${why}). Install it with: apt-get install -y ${debianPackage}` +
        ` (or run the project's set-up: npm run setup).`,
    );
    this.name = 'MissingToolError';
  }
}

/**
 * The absolute path of `tool` on PATH (or the path itself when it contains a slash), else
 * undefined. Debian gives non-root users a PATH without the sbin directories, where mkfs.ext4,
 * debugfs and e2fsck live, so a system PATH (one with /usr/bin) is searched with them; a PATH
 * narrowed on purpose (no /usr/bin) is searched as given.
 */
export function findTool(tool: string, path = process.env.PATH ?? ''): string | undefined {
  const dirs = path.split(delimiter).filter(Boolean);
  if (dirs.includes('/usr/bin')) dirs.push('/usr/sbin', '/sbin');
  const candidates = tool.includes('/') ? [tool] : dirs.map((d) => join(d, tool));
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
