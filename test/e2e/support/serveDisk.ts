import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { Machine } from './machine';
import { sleep, startAgent, type Child } from './procs';

export interface ServedDisk extends Child {
  /** serve-disk's control socket (bookmarks, status). */
  ctl: string;
  /** Writes `length` bytes of `pattern` at `offset` through NBD (qemu-io), acknowledged. */
  write(pattern: number, offset: number, length?: string): void;
}

/**
 * `haven-agent serve-disk` on the machine's image (already replicated: no initial sync), the
 * agent replicating from its journal with no bookmarks of its own (interval 1 h).
 */
export async function serveDisk(m: Machine, env?: NodeJS.ProcessEnv): Promise<ServedDisk> {
  const dir = path.dirname(m.image);
  const sock = path.join(dir, 'nbd.sock');
  const ctl = path.join(dir, 'control.sock');
  const args = ['serve-disk', m.image, '--socket', sock, '--control', ctl, '--interval', '3600'];
  const served = startAgent(m.stateDir, [...args, '--no-initial-sync'], env);
  for (let i = 0; !served.out.stdout.includes('ready'); i++) {
    if (served.child.exitCode !== null || i > 600)
      throw new Error(`serve-disk did not start: ${served.out.stderr.slice(-3000)}`);
    await sleep(100);
  }
  const nbd = `nbd+unix:///${m.diskId}?socket=${sock}`;
  return {
    ...served,
    ctl,
    write: (pattern, offset, length = '192k') => {
      execFileSync('qemu-io', [
        '-f',
        'raw',
        nbd,
        '-c',
        `write -q -P ${pattern} ${offset} ${length}`,
      ]);
    },
  };
}
