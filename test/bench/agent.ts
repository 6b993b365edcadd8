import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchRow } from './row';
import { catSeconds, resticBackupSeconds } from './baselines';
import { Batcher } from '../../edge-agent/batcher';
import { encodeThreadsFor, sharedEncoder } from '../../edge-agent/encodePool';
import { ScanSource } from '../../edge-agent/scanSource';
import { Spool } from '../../edge-agent/spool';

/**
 * Agent data path: one scan pass (4 MiB reads, xxh64 per 64 KiB block, zstd + AES-GCM per
 * batch, spool append + fdatasync) over a mixed-content ext4 image, against `cat image >
 * /dev/null` measured in the same run (both from a warm page cache). Runs in a child process
 * so CPU time and peak RSS are the agent's alone.
 */

interface PassFigures {
  seconds: number;
  bytesRead: number;
  plainBytes: number;
  envelopeBytes: number;
  batches: number;
  cpuSeconds: number;
  startRssMiB: number;
  peakRssMiB: number;
}

async function childPass(image: string, work: string, sizeBytes: number): Promise<PassFigures> {
  const disk = { id: 'bench', path: image, sizeBytes, sectorSize: 512, generation: 1 };
  const startRssMiB = process.memoryUsage().rss / 2 ** 20;
  const spool = await Spool.open(join(work, 'spool'), { maxBytes: 64 * 2 ** 30 });
  const source = await ScanSource.open([disk], join(work, 'index'), { intervalMs: 1000 });
  const batcher = new Batcher(
    spool,
    source,
    new Map([[disk.id, disk]]),
    { machineId: 'm-bench', keyId: 'k1', key: randomBytes(32) },
    undefined,
    sharedEncoder(), // as the agent runs it (HAVEN_AGENT_ENCODE_THREADS overrides)
  );
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const ac = new AbortController();
  for await (const rec of source.changes(ac.signal)) {
    await batcher.add(rec);
    if (rec.kind === 'idle') break;
  }
  await source.checkpoint();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await spool.close();
  return {
    seconds,
    bytesRead: source.stats.bytesRead,
    plainBytes: batcher.stats.plainBytes,
    envelopeBytes: batcher.stats.envelopeBytes,
    batches: batcher.stats.batches,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    startRssMiB,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function runChild(
  image: string,
  work: string,
  sizeBytes: number,
  env: NodeJS.ProcessEnv = {},
): Promise<PassFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--agent-bench-child', image, work, String(sizeBytes)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...env },
    });
    child.once('message', (m) => resolve(m as PassFigures));
    child.once('exit', (code) => code !== 0 && reject(new Error(`bench child exited ${code}`)));
  });
}

/** ext4 populated with real files (mkfs.ext4 -d, no mount needed) plus random data. */
function makeImage(dir: string, quick: boolean): { image: string; sizeBytes: number } {
  const sizeMiB = quick ? 256 : 2048;
  const content = join(dir, 'content');
  execFileSync('mkdir', ['-p', content]);
  execFileSync('cp', ['-r', '/usr/share/doc', join(content, 'doc')]);
  if (!quick)
    execFileSync('sh', [
      '-c',
      `cp -r /usr/lib/x86_64-linux-gnu "${join(content, 'lib')}" 2>/dev/null || true`,
    ]);
  writeFileSync(join(content, 'random.bin'), randomBytes((quick ? 24 : 48) * 2 ** 20));
  const image = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', content, image], { stdio: 'ignore' });
  rmSync(content, { recursive: true, force: true });
  return { image, sizeBytes: sizeMiB * 2 ** 20 };
}

/** A large sparse disk with 64 MiB of data spread over it: what the agent's memory scales with. */
function makeSparse(dir: string, gib: number): { image: string; sizeBytes: number } {
  const image = join(dir, 'sparse.img');
  const sizeBytes = gib * 2 ** 30;
  execFileSync('truncate', ['-s', String(sizeBytes), image]);
  const fd = openSync(image, 'r+');
  for (let i = 0; i < 64; i++)
    writeSync(fd, randomBytes(2 ** 20), 0, 2 ** 20, (sizeBytes / 64) * i);
  closeSync(fd);
  return { image, sizeBytes };
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-agent-'));
  try {
    const { image, sizeBytes } = makeImage(dir, quick);
    const label = quick ? '256 MiB' : '2 GiB';
    catSeconds(image); // warm the page cache for both
    const cat = catSeconds(image);
    // The same pass with batches sealed on 2 worker threads (the A/B of the pool's size), then
    // as the agent runs it on this machine; restic backs up the same image in the same run.
    const pooled = await runChild(image, join(dir, 'w1'), sizeBytes, {
      HAVEN_AGENT_ENCODE_THREADS: '2',
    });
    const first = await runChild(image, join(dir, 'w'), sizeBytes);
    const restic = resticBackupSeconds(image);
    rmSync(restic.repoDir, { recursive: true, force: true });
    // A delta: 16 MiB of new file data, then a second pass with the persisted index.
    const src = join(dir, 'delta.bin');
    writeFileSync(
      src,
      Buffer.concat([
        randomBytes(8 * 2 ** 20),
        Buffer.from('delta text '.repeat(800_000)).subarray(0, 8 * 2 ** 20),
      ]),
    );
    execFileSync('debugfs', ['-w', '-R', `write ${src} delta.bin`, image], { stdio: 'ignore' });
    catSeconds(image);
    const cat2 = catSeconds(image);
    const delta = await runChild(image, join(dir, 'w'), sizeBytes);
    rmSync(image);
    const gib = quick ? 16 : 64;
    const big = makeSparse(dir, gib);
    const sparse = await runChild(big.image, join(dir, 's'), big.sizeBytes);
    const mbps = (bytes: number, s: number) => bytes / s / 1e6;
    return [
      {
        name: `agent initial scan+batch+spool vs restic, ${label} mixed ext4`,
        value: mbps(sizeBytes, first.seconds),
        unit: 'MB/s',
        baselineName: 'restic backup (local repo)',
        baselineValue: mbps(sizeBytes, restic.initial),
        ratio: restic.initial / first.seconds,
        note: `higher is better; target ≥ 1.2×; ${first.cpuSeconds.toFixed(2)} s CPU in ${first.seconds.toFixed(2)} s (${availableParallelism()} cores: sealed on ${encodeThreadsFor(availableParallelism())} encoder thread(s)); with 2 encoder threads ${mbps(sizeBytes, pooled.seconds).toFixed(0)} MB/s, ${pooled.cpuSeconds.toFixed(2)} s CPU`,
      },
      {
        name: `agent initial scan+batch+spool, ${label} mixed ext4`,
        value: mbps(sizeBytes, first.seconds),
        unit: 'MB/s',
        baselineName: 'cat image > /dev/null',
        baselineValue: mbps(sizeBytes, cat),
        ratio: cat / first.seconds,
        note: `higher is better; ${(first.plainBytes / 2 ** 20).toFixed(0)} MiB non-zero data in ${first.batches} batches`,
      },
      {
        name: `agent delta rescan (16 MiB changed), ${label}`,
        value: mbps(sizeBytes, delta.seconds),
        unit: 'MB/s',
        baselineName: 'cat image > /dev/null',
        baselineValue: mbps(sizeBytes, cat2),
        ratio: cat2 / delta.seconds,
        note: `higher is better; sent ${(delta.plainBytes / 2 ** 20).toFixed(1)} MiB`,
      },
      {
        name: 'agent envelope bytes / plain data bytes (zstd-1 + GCM)',
        value: first.envelopeBytes / first.plainBytes,
        unit: 'ratio',
        baselineName: 'uncompressed',
        baselineValue: 1,
        ratio: first.envelopeBytes / first.plainBytes,
        note: 'lower is better; zero blocks travel as ranges and are not counted',
      },
      {
        name: 'agent CPU during initial pass',
        value: first.cpuSeconds,
        unit: 's',
        baselineName: 'wall time of the pass',
        baselineValue: first.seconds,
        ratio: first.cpuSeconds / first.seconds,
        note: 'ratio = cores busy',
      },
      {
        name: 'agent peak RSS during initial pass',
        value: first.peakRssMiB,
        unit: 'MiB',
        baselineName: 'same process before the pass',
        baselineValue: first.startRssMiB,
        ratio: first.peakRssMiB / first.startRssMiB,
        note: 'lower is better',
      },
      {
        name: `agent peak RSS, initial pass of a ${gib} GiB sparse disk (64 MiB data)`,
        value: sparse.peakRssMiB,
        unit: 'MiB',
        baselineName: 'same process before the pass',
        baselineValue: sparse.startRssMiB,
        ratio: sparse.peakRssMiB / sparse.startRssMiB,
        note: `lower is better; its ${gib * 2} MiB index is read per chunk, not held in RAM; ${mbps(big.sizeBytes, sparse.seconds).toFixed(0)} MB/s`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--agent-bench-child') {
  const [image, work, size] = process.argv.slice(3) as [string, string, string];
  void childPass(image, work, Number(size)).then(
    (f) => process.send!(f, () => process.exit(0)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
