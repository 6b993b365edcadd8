import { writeFileSync } from 'node:fs';

/**
 * Preloaded (`node --require`) into the agent CLI by the replication bench: at exit it writes
 * the process's own resource usage (CPU seconds, peak RSS) to HAVEN_BENCH_RUSAGE_FILE, so the
 * figures are the agent's alone, without relying on `/usr/bin/time`.
 */
const file = process.env.HAVEN_BENCH_RUSAGE_FILE;
if (file) {
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({
        userSeconds: r.userCPUTime / 1e6,
        systemSeconds: r.systemCPUTime / 1e6,
        maxRssKiB: r.maxRSS,
      }),
    );
  });
}
