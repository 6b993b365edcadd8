import * as path from 'node:path';
import { runProgram, type Child } from '../../support/procs';
import { agentOn, type Machine } from './machine';

export interface ServedDisk extends Child {
  /** serve-disk's control socket (bookmarks, status). */
  ctl: string;
  /** Writes `length` bytes of `pattern` at `offset` through NBD (qemu-io), acknowledged. */
  write(pattern: number, offset: number, length?: string): Promise<void>;
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
  const served = agentOn(m, [...args, '--no-initial-sync'], env);
  await served.waitForOutput('ready', { stream: 'stdout', timeoutMs: 60_000 });
  const nbd = `nbd+unix:///${m.diskId}?socket=${sock}`;
  return {
    ...served,
    ctl,
    write: async (pattern, offset, length = '192k') => {
      await runProgram('qemu-io', [
        '-f',
        'raw',
        nbd,
        '-c',
        `write -q -P ${pattern} ${offset} ${length}`,
      ]);
    },
  };
}
