import { afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram, spawnNode } from '../../support/procs';
import type { ChangeRecord } from '../../../edge-agent/changeSource';
import { applyExtents } from '../../../edge-agent/journal/replay';
import type { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';

const tempDirs: string[] = [];
// Images and journals are large: remove them after the test file (hooks registered here attach
// to the importing file's root suite), and on worker exit for whatever is left.
function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}
afterAll(() => removeTempDirs());
process.once('exit', removeTempDirs);

export function tempDir(prefix = 'haven-nbd-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/**
 * Starts `serve-disk <args>` (built) in a child process (so a SIGKILL hits only the server);
 * resolves once it prints "ready", rejects if it exits first.
 */
export async function startServeDisk(args: string[]): Promise<ChildProcess> {
  const c = spawnNode('edge-agent/nbd/serveDisk.ts', ['serve-disk', ...args]);
  await c.waitForOutput('ready', { stream: 'stdout' });
  return c.child;
}

export { controlRequest as control } from '../../../edge-agent/nbd/controlClient';

export function unixUri(socketPath: string): string {
  return `nbd+unix:///?socket=${socketPath}`;
}

/** Runs a command to completion; rejects on a non-zero exit (unless allowFail). */
export const run = runProgram;

/** Consumes the source like the agent does (applying extents to `image`): until idle with nothing left, then checkpoint. */
export async function drainAndCommit(
  source: JournalChangeSource,
  image: string,
): Promise<ChangeRecord[]> {
  const ac = new AbortController();
  const out: ChangeRecord[] = [];
  for await (const r of source.changes(ac.signal)) {
    if (r.kind === 'idle') {
      source.committed(r.pos);
      await source.checkpoint();
      if (source.journal.lastLsn < source.readLsn) break;
      continue;
    }
    out.push(r);
    if (r.kind === 'extent')
      applyExtents(image, [
        r.data
          ? { kind: 'data', offset: r.offset, data: r.data }
          : { kind: 'zero', offset: r.offset, length: r.length },
      ]);
  }
  ac.abort();
  return out;
}
