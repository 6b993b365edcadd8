import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Mark } from './phaseMarks';

const root = resolve(__dirname, '..', '..', '..');
export const agentBin = join(root, 'bin', 'haven-agent.js');
const preload = join(__dirname, 'rusagePreload.js');

export interface AgentRun {
  seconds: number;
  pointId: string;
  cpuSeconds: number;
  peakRssMiB: number;
  marks: Mark[];
}

/** `haven-agent run --once` as a child process, with its own resource usage and log lines. */
export function agentRunOnce(stateDir: string, work: string): Promise<AgentRun> {
  const rusage = join(work, `rusage-${Date.now()}.json`);
  return new Promise((resolveRun, reject) => {
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      [
        '--require',
        preload,
        agentBin,
        'run',
        '--once',
        '--json',
        '--timeout',
        '1800',
        '--state-dir',
        stateDir,
      ],
      {
        env: { ...process.env, HAVEN_BENCH_RUSAGE_FILE: rusage },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const marks: Mark[] = [{ at: t0, src: 'agent', msg: 'agent started' }];
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const now = Date.now();
      err += d.toString();
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        try {
          const j = JSON.parse(line) as { at?: string; msg?: string };
          marks.push({ at: j.at ? Date.parse(j.at) : now, src: 'agent', msg: j.msg ?? line });
        } catch {
          marks.push({ at: now, src: 'agent', msg: line });
        }
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const seconds = (Date.now() - t0) / 1000;
      marks.push({ at: Date.now(), src: 'agent', msg: 'agent exited' });
      if (code !== 0) return reject(new Error(`agent run --once exited ${code}: ${err || out}`));
      try {
        const r = JSON.parse(out) as { recoveryPoint: { id: string } };
        const u = JSON.parse(readFileSync(rusage, 'utf8')) as {
          userSeconds: number;
          systemSeconds: number;
          maxRssKiB: number;
        };
        resolveRun({
          seconds,
          pointId: r.recoveryPoint.id,
          cpuSeconds: u.userSeconds + u.systemSeconds,
          peakRssMiB: u.maxRssKiB / 1024,
          marks,
        });
      } catch (e) {
        reject(new Error(`agent output unreadable: ${(e as Error).message}: ${out}`));
      }
    });
  });
}
