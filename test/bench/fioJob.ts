import { spawn } from 'node:child_process';

/** fio runs of the splitter bench: one job, one target (a file, or an NBD URI). */
export function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} → ${code}: ${err}`)),
    );
  });
}

export interface Job {
  name: string;
  label: string;
  rw: 'randwrite' | 'write';
  bs: string;
  size: number;
  iodepth: number;
  /** fsync every N writes (0 = only at the end). */
  fsync?: number;
  /** Also run the write-twice bounds (splitter.ts `twice`, `twiceDirect`). */
  bound?: boolean;
}

/**
 * MB/s (10^6) of one fio run; end_fsync makes the final durability cost part of the figure.
 * `copy`: a second job writes the same bytes to another file at the same time (buffered, or
 * O_DIRECT), the stand-in for a journal in a server that writes everything twice; the rate is
 * the first job's.
 */
export async function fio(
  job: Job,
  target: { file?: string; uri?: string },
  copy?: { file: string; direct: boolean },
): Promise<number> {
  const opts = [
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--size=${job.size}`,
    `--iodepth=${job.iodepth}`,
    '--randrepeat=1',
    '--randseed=42',
    '--refill_buffers=1',
    '--end_fsync=1',
    `--fsync=${job.fsync ?? 0}`,
  ];
  const args = [`--name=${job.name}`, ...opts, '--output-format=json'];
  if (target.file) args.push('--ioengine=libaio', `--filename=${target.file}`);
  else args.push('--ioengine=nbd', `--uri=${target.uri}`);
  if (copy) {
    args.push(`--name=${job.name}-copy`, ...opts, '--ioengine=libaio', `--filename=${copy.file}`);
    if (copy.direct) args.push('--direct=1');
  }
  const text = await exec('fio', args);
  // The nbd engine prints "fio: connected to NBD server" before the JSON.
  const out = JSON.parse(text.slice(text.indexOf('{'))) as {
    jobs: Array<{ write: { bw_bytes: number } }>;
  };
  return out.jobs[0]!.write.bw_bytes / 1e6;
}
