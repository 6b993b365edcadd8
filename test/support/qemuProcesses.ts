import { readdirSync, readFileSync } from 'node:fs';

/**
 * The pids of QEMU processes whose command line mentions `dir` (a runner's state dir or a test's
 * work dir: the pid file, QMP socket and disks live there). Guests are daemons, not children of
 * the test, so /proc is how a test proves that none was left running.
 */
export function qemuProcessesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(dir)))
        pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
