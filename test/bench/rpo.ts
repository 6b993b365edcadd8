import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { claimPort } from '../../local/stack/freePort';
import { parseLocalEnv } from '../../local/stack/localEnvFile';
import { sha256File } from '../../local/images/ext4';
import { HydrationWatcher } from './hydrationWatcher';
import { PacedNbdClient } from './rpoNbd';
import type { BenchRow } from './row';
import { coresBusy, sampleCpu, type CpuPart } from './processCpu';
import { adminApi } from '../support/adminApi';
import { controlRequest } from '../../edge-agent/nbd/controlClient';

/**
 * RPO distribution of continuous replication. The whole path runs as separate processes, as in
 * production: the local stack (Azurite, Cosmos emulator, Event Hubs endpoint, Functions host with
 * ingest + hydrate) and `haven-agent serve-disk` with the journal change source, an enrolled
 * state dir and the agent's policy timer cutting a crash bookmark every `--interval`. This
 * process is the protected machine: it writes random 4–64 KiB blocks through NBD at a paced
 * churn (10, 20, 50 MB/s) and notes when each write was acknowledged.
 *
 * RPO of a write = the time the first recovery point containing it became durable (every batch
 * up to its bookmark stored in Azure: `durableAt` of the point document in Cosmos) − its ack
 * time. A point contains every write acknowledged before its bookmark was appended (the server
 * journals before it replies), so the first point whose bookmark time (`time`, set when the
 * record is appended) is later than the ack certainly contains the write; attributing by time
 * can only pick a later point than the true one, so the figure errs on the high side.
 * Hydration lag of a point = when hydration reached its bookmark − its `durableAt` (an RTO
 * cost, not RPO): its `materializedAt`, or for a point a hydrator catching up merged into a
 * later one (core/replication/catchUp.ts; the note counts those) when the disk watermarks
 * passed it (HydrationWatcher); each rate's
 * phase ends when its last point is materialized, and the host's hydrate log lines of the phase
 * give the page writes per MB of churn. At the end the last point is restored and compared
 * (sha256) with the disk.
 */
const MiB = 1024 * 1024;
const root = resolve(__dirname, '..', '..', '..');
const distCli = join(root, 'dist', 'edge-agent', 'cli.js');
const stackMain = join(root, 'dist', 'local', 'stack', 'main.js');
const preload = join(__dirname, 'rusagePreload.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node flags for the children: HAVEN_BENCH_CPU_PROF=dir profiles them (`--cpu-prof`). */
function nodeFlags(name: string): string[] {
  const dir = process.env.HAVEN_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, name)] : [];
}

function agentCli(args: string[], env: NodeJS.ProcessEnv = {}, flags: string[] = []) {
  // dist/ directly (built by `npm run bench`), not bin/ (which may fall back to source).
  const code = `require(${JSON.stringify(distCli)}).main(process.argv.slice(1)).then((c) => process.exit(c))`;
  return spawn(process.execPath, [...flags, '-e', code, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function agentJson<T>(args: string[]): Promise<T> {
  const p = agentCli([...args, '--json']);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`haven-agent ${args[0]} exited ${code}: ${err || out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

interface Stack {
  pid: number;
  apiUrl: string;
  env: Record<string, string>;
  /** The host's hydrate lines (requests per drain), with the time each arrived. */
  hydrateLog: HydrateLine[];
  stop(): Promise<void>;
}

interface HydrateLine {
  at: number;
  applied: number;
  pageWrites: number;
  clears: number;
  readBacks: number;
}

const HYDRATE_LINE =
  /hydrate \S+: \w+, applied (\d+), .*page writes (\d+), clears (\d+), read-backs (\d+)/;

/**
 * The stack's emulators keep their state in memory here unless HAVEN_BENCH_RPO_STACK=persistent.
 * Azurite on disk serializes its whole metadata store every 5 s, every snapshot's page-range
 * list included: with a point a second over a replica under random churn that grows with
 * snapshots × ranges and ends up taking most of a core of the two (measured: 1.7 → 10.7 ms of
 * emulator CPU per page write after 240 snapshots), a cost with no counterpart in Azure. This
 * bench restarts nothing, so it loses nothing by it.
 */
const stackPersistent = process.env.HAVEN_BENCH_RPO_STACK === 'persistent';

/** The local stack as its own process group (so Azurite and the host leave with it). */
async function startStack(stateDir: string): Promise<Stack> {
  const port = await claimPort(0, '127.0.0.1');
  const p = spawn(
    process.execPath,
    [
      ...nodeFlags('stack'),
      stackMain,
      ...['--port', String(port), '--state-dir', stateDir, '--fresh'],
      ...(stackPersistent ? [] : ['--in-memory']),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // The host writes its log to <state>/logs/host.log: its hydrate lines count page writes.
  const hydrateLog: HydrateLine[] = [];
  const hostLog = join(stateDir, 'logs', 'host.log');
  let read = 0;
  let partial = '';
  const tail = setInterval(() => {
    try {
      const all = readFileSync(hostLog);
      const chunk = all.subarray(read).toString();
      read = all.length;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = HYDRATE_LINE.exec(line);
        if (!m) continue;
        const [applied, pageWrites, clears, readBacks] = m.slice(1).map(Number) as [
          number,
          number,
          number,
          number,
        ];
        const at = Date.parse(line.slice(0, 24));
        hydrateLog.push({
          at: Number.isNaN(at) ? Date.now() : at,
          applied,
          pageWrites,
          clears,
          readBacks,
        });
      }
    } catch {
      /* not there yet */
    }
  }, 500);
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const until = Date.now() + 180_000;
  while (!out.includes('ready at')) {
    if (p.exitCode !== null || Date.now() > until) {
      killGroup(p);
      throw new Error(`stack did not start: ${out}`);
    }
    await sleep(100);
  }
  const env = parseLocalEnv(readFileSync(join(stateDir, 'local.env'), 'utf8'));
  return {
    pid: p.pid!,
    apiUrl: env.HAVEN_API_URL!,
    env,
    hydrateLog,
    async stop() {
      clearInterval(tail);
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
      killGroup(p);
    },
  };
}

function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
}

interface PointSeen {
  id: string;
  time: number;
  seenAt: number;
  materialized: boolean;
  durableAt?: number;
  materializedAt?: number;
}

/** Polls the points list (what a user sees), noting when each point first appeared. */
class PointWatcher {
  readonly points = new Map<string, PointSeen>();
  private stopped = false;
  private loop?: Promise<void>;
  constructor(
    private readonly stack: Stack,
    private readonly machineId: string,
  ) {}
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const page = await adminApi<{
            items: Array<{ id: string; time: string; materialized: boolean }>;
          }>(this.stack, 'GET', `machines/${this.machineId}/recovery-points?limit=100`);
          const now = Date.now();
          for (const p of page.items) {
            const seen = this.points.get(p.id);
            if (!seen)
              this.points.set(p.id, {
                id: p.id,
                time: Date.parse(p.time),
                seenAt: now,
                materialized: p.materialized,
              });
            else seen.materialized = p.materialized;
          }
        } catch {
          /* the host is busy; try again */
        }
        await sleep(200);
      }
    })();
  }
  /** Newest point (by bookmark time). */
  latest(): PointSeen | undefined {
    let best: PointSeen | undefined;
    for (const p of this.points.values()) if (!best || p.time > best.time) best = p;
    return best;
  }
  /** A point whose bookmark is after `t` (with `materialized`: one that is hydrated too). */
  async waitCovering(
    t: number,
    timeoutMs: number,
    materialized = false,
  ): Promise<PointSeen | undefined> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      // New (idle) bookmarks keep coming: any point after `t` that is far enough will do.
      for (const p of this.points.values())
        if (p.time > t && (!materialized || p.materialized)) return p;
      await sleep(100);
    }
    return undefined;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** When each point of the machine became durable and materialized, from the cloud's own documents. */
async function pointTimes(
  stack: Stack,
  machineId: string,
): Promise<Map<string, { durableAt: number; materializedAt?: number }>> {
  const client = new CosmosClient({
    endpoint: stack.env.HAVEN_COSMOS_ENDPOINT!,
    key: stack.env.HAVEN_COSMOS_KEY!,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const out = new Map<string, { durableAt: number; materializedAt?: number }>();
  try {
    const db = client.database('haven');
    const { resources: containers } = await db.containers.readAll().fetchAll();
    for (const c of containers) {
      const { resources } = await db
        .container(c.id)
        .items.query<{
          id: string;
          publishedAt: string;
          durableAt?: string;
          materializedAt?: string;
        }>({
          query:
            "SELECT c.id, c.publishedAt, c.durableAt, c.materializedAt FROM c WHERE c.type = 'point' AND c.machineId = @m AND IS_DEFINED(c.publishedAt)",
          parameters: [{ name: '@m', value: machineId }],
        })
        .fetchAll();
      for (const r of resources)
        out.set(r.id, {
          durableAt: Date.parse(r.durableAt ?? r.publishedAt),
          ...(r.materializedAt ? { materializedAt: Date.parse(r.materializedAt) } : {}),
        });
    }
  } finally {
    client.dispose();
  }
  return out;
}

interface Phase {
  rateMBs: number;
  seconds: number;
  writes: number;
  bytes: number;
  acks: number[];
  latencies: number[];
  start: number;
  end: number;
  /** Journal retained bytes and spool bytes sampled every second. */
  backlog: Array<{ at: number; journal: number; spool: number }>;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Random 4–64 KiB writes (4 KiB aligned) at `rateMBs`, at most `depth` in flight. */
async function churn(
  nbd: PacedNbdClient,
  rateMBs: number,
  seconds: number,
  pool: Buffer,
  sample: () => Promise<{ journal: number; spool: number }>,
): Promise<Phase> {
  const depth = 64;
  const rate = rateMBs * 1e6;
  const blocks = Math.floor(nbd.size / 4096);
  const phase: Phase = {
    rateMBs,
    seconds,
    writes: 0,
    bytes: 0,
    acks: [],
    latencies: [],
    start: Date.now(),
    end: 0,
    backlog: [],
  };
  const pending: Promise<void>[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        phase.backlog.push({ at: Date.now(), ...(await sample()) });
      } catch {
        /* busy */
      }
      await sleep(250);
    }
  })();
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    const due = (rate * (Date.now() - t0)) / 1000;
    while (phase.bytes < due && nbd.inflight < depth) {
      const len = 4096 * (1 + randomInt(16));
      const off = 4096 * randomInt(blocks - 16);
      const src = 4096 * randomInt((pool.length - len) / 4096);
      const sent = Date.now();
      phase.writes++;
      phase.bytes += len;
      pending.push(
        nbd.write(off, pool.subarray(src, src + len)).then((at) => {
          phase.acks.push(at);
          phase.latencies.push(at - sent);
        }),
      );
    }
    await sleep(2);
  }
  await Promise.all(pending);
  phase.end = Date.now();
  sampling = false;
  await sampler;
  return phase;
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const sizeMiB = quick ? 256 : 1024;
  const seconds = Number(process.env.HAVEN_BENCH_RPO_SECONDS ?? (quick ? 10 : 30));
  // The 10 MB/s phase runs longer in full mode: whether hydration keeps up shows over minutes.
  const sustainSeconds = Number(process.env.HAVEN_BENCH_RPO_SUSTAIN_S ?? (quick ? seconds : 180));
  const intervalS = process.env.HAVEN_BENCH_RPO_INTERVAL ?? '1';
  const drainTimeoutMs = Number(process.env.HAVEN_BENCH_RPO_DRAIN_S ?? 600) * 1000;
  const rates = (process.env.HAVEN_BENCH_RPO_RATES ?? '10,20,50').split(',').map(Number);
  const work = mkdtempSync(join(tmpdir(), 'haven-bench-rpo-'));
  let stack: Stack | undefined;
  let serve: ChildProcess | undefined;
  let watcher: PointWatcher | undefined;
  let hydration: HydrationWatcher | undefined;
  let serveLog = '';
  try {
    const image = join(work, 'disk.img');
    // Sparse: the initial sync sends zero ranges only.
    writeFileSync(image, '');
    truncateSync(image, sizeMiB * MiB);

    stack = await startStack(join(work, 'stack'));
    const site = await adminApi<{ id: string }>(stack, 'POST', 'sites', { name: 'rpo-bench' });
    const { token } = await adminApi<{ token: string }>(
      stack,
      'POST',
      `sites/${site.id}/enrollment-tokens`,
      {},
    );
    const agentDir = join(work, 'agent');
    const st = ['--state-dir', agentDir];
    const { machineId } = await agentJson<{ machineId: string }>([
      'enroll',
      '--api',
      stack.apiUrl,
      '--token',
      token,
      '--name',
      'rpo-bench',
      ...st,
    ]);
    const { id: diskId } = await agentJson<{ id: string }>(['disk', 'add', image, ...st]);
    await adminApi(stack, 'POST', `machines/${machineId}/protect`, {});

    const sock = join(work, 'nbd.sock');
    const ctl = join(work, 'control.sock');
    const rusage = join(work, 'serve-rusage.json');
    if (process.env.HAVEN_BENCH_CPU_PROF)
      mkdirSync(process.env.HAVEN_BENCH_CPU_PROF, { recursive: true });
    serve = agentCli(
      [
        'serve-disk',
        image,
        '--socket',
        sock,
        '--control',
        ctl,
        '--interval',
        intervalS,
        // A/B of the journal drain's thread: HAVEN_BENCH_RPO_DRAIN=event-loop.
        ...(process.env.HAVEN_BENCH_RPO_DRAIN === 'event-loop' ? ['--drain-on-event-loop'] : []),
        ...st,
      ],
      { HAVEN_BENCH_RUSAGE_FILE: rusage },
      ['--require', preload, ...nodeFlags('agent')],
    );
    serve.stdout!.on('data', (d: Buffer) => (serveLog += d.toString()));
    serve.stderr!.on('data', (d: Buffer) => (serveLog += d.toString()));
    const serveExit = new Promise<number | null>((r) => serve!.once('exit', r));
    for (let i = 0; !serveLog.includes('ready'); i++) {
      if (serve.exitCode !== null || i > 600) throw new Error(`serve-disk: ${serveLog}`);
      await sleep(100);
    }
    watcher = new PointWatcher(stack, machineId);
    watcher.start();
    hydration = new HydrationWatcher(
      stack.env.HAVEN_COSMOS_ENDPOINT!,
      stack.env.HAVEN_COSMOS_KEY!,
      machineId,
    );
    hydration.start();
    const initialStart = Date.now();
    const initial = await watcher.waitCovering(0, 300_000);
    if (!initial) throw new Error(`no initial point: ${serveLog.slice(-3000)}`);
    const initialSeconds = (Date.now() - initialStart) / 1000;
    console.error(`bench: rpo: initial point after ${initialSeconds.toFixed(1)} s`);

    const nbd = await PacedNbdClient.open(sock, diskId);
    const pool = randomBytes(64 * MiB);
    const statusFile = join(agentDir, 'status.json');
    // The agent's status file (rewritten every second): spool backlog and when the newest
    // bookmark's batches were acknowledged by Event Hubs (so agent and cloud lag split apart).
    const sentAt = new Map<string, number>();
    const sample = async () => {
      const s = await controlRequest(ctl, { op: 'status' });
      let spool = 0;
      try {
        const st = JSON.parse(readFileSync(statusFile, 'utf8')) as {
          disks: Array<{ spoolPendingBytes: number }>;
          lastBookmark?: { id: string; ackedAt?: string };
        };
        spool = st.disks.reduce((n, d) => n + d.spoolPendingBytes, 0);
        const lb = st.lastBookmark;
        if (lb?.ackedAt && !sentAt.has(lb.id)) sentAt.set(lb.id, Date.parse(lb.ackedAt));
      } catch {
        /* being replaced */
      }
      return { journal: s.retained as number, spool };
    };
    // Who burns the cores during each phase (is the machine itself the limit?).
    const cpuParts: CpuPart[] = [
      { label: 'Azurite', match: /azurite/ },
      { label: 'agent', pid: serve.pid! },
      { label: 'Functions host + emulators', pid: stack.pid },
      { label: 'bench writer', pid: process.pid },
    ];
    const cpuNotes: string[] = [];
    const phases: Phase[] = [];
    const drains: number[] = [];
    const hydrated: { seconds: number; log: HydrateLine[] }[] = [];
    const loads: string[] = [];
    for (const rate of rates) {
      const load = loadavg()[0]!.toFixed(1);
      const cpu0 = sampleCpu(cpuParts);
      const ph = await churn(nbd, rate, rate === 10 ? sustainSeconds : seconds, pool, sample);
      cpuNotes.push(
        coresBusy(cpu0, sampleCpu(cpuParts), (ph.end - ph.start) / 1000, cpus().length),
      );
      const lastAck = Math.max(...ph.acks);
      const covering = await watcher.waitCovering(lastAck, drainTimeoutMs);
      drains.push(covering ? (covering.seenAt - lastAck) / 1000 : Infinity);
      // Each rate starts from a drained pipeline (hydrated too), so its figures are its own.
      const done = await watcher.waitCovering(lastAck, drainTimeoutMs, true);
      const hydratedAt = Date.now();
      hydrated.push({ seconds: done ? (hydratedAt - ph.start) / 1000 : Infinity, log: [] });
      // A drain logs its page writes when it ends: the one that applied the phase's last batch
      // may still be running (bookmarks keep coming), and its writes belong to this phase.
      for (let t = 0; done && t < 60 && !stack.hydrateLog.some((l) => l.at >= hydratedAt); t++) {
        await sleep(500);
      }
      loads.push(`${load}→${loadavg()[0]!.toFixed(1)}`);
      phases.push(ph);
      console.error(
        `bench: rpo: ${rate} MB/s phase done (${ph.writes} writes, ${(ph.bytes / (ph.end - ph.start) / 1e3).toFixed(1)} MB/s achieved); last write in a durable point after ${drains[drains.length - 1]!.toFixed(2)} s, hydrated ${(hydrated[hydrated.length - 1]!.seconds - (ph.end - ph.start) / 1000).toFixed(1)} s after the phase`,
      );
      await sleep(2000);
    }
    const lastAck = await nbd.flush();
    // Restored once materialized (a restore of a point still hydrating would drive it itself).
    const final = await watcher.waitCovering(lastAck, drainTimeoutMs, true);
    nbd.close();
    await watcher.stop();
    await hydration.stop();

    // Correctness: the last point restores to exactly the disk (nothing was written after it).
    let verified = `no point after the last write within ${drainTimeoutMs / 1000} s: not verified`;
    if (final) {
      const restored = join(work, 'restored.img');
      await agentJson(['restore', '--point', final.id, '--disk', diskId, '--to', restored, ...st]);
      if (sha256File(restored) !== sha256File(image))
        throw new Error(`restored point ${final.id} differs from the disk`);
      verified = 'last point restored, sha256 = disk';
      rmSync(restored, { force: true });
    }

    // Each phase's hydrate lines: from its start to the next phase's (the host log is tailed).
    await sleep(1000);
    phases.forEach((ph, i) => {
      const to = phases[i + 1]?.start ?? Infinity;
      hydrated[i]!.log = stack!.hydrateLog.filter((l) => l.at >= ph.start && l.at < to);
    });
    const times = await pointTimes(stack, machineId);
    const points = [...watcher.points.values()]
      .map((p) => ({
        ...p,
        publishedAt: times.get(p.id)?.durableAt ?? p.seenAt,
        materializedAt: times.get(p.id)?.materializedAt,
        // Seen durable, gone since: merged into a later point by a hydrator catching up.
        merged: !times.has(p.id),
        hydratedAt: times.get(p.id)?.materializedAt ?? hydration!.reached(p.time),
      }))
      .sort((a, b) => a.time - b.time);
    const pointGaps = points.slice(1).map((p, i) => p.time - points[i]!.time);
    // Per bookmark: cut → acked by Event Hubs (agent: journal source, batcher, spool, send;
    // stamped by the agent when acknowledged; sampled every 250 ms from the status file, which is
    // rewritten every second, so not every bookmark is seen) → durable (cloud).
    const split = points
      .filter((p) => sentAt.has(p.id))
      .map((p) => ({
        agent: sentAt.get(p.id)! - p.time,
        cloud: p.publishedAt - sentAt.get(p.id)!,
      }));
    const q = (xs: number[], k: number) =>
      quantile(
        [...xs].sort((a, b) => a - b),
        k,
      ) / 1000;
    const agentLag = split.map((x) => x.agent);
    const cloudLag = split.map((x) => x.cloud);
    const splitNote = `per bookmark (${split.length} sampled): cut→sent p50 ${q(agentLag, 0.5).toFixed(2)} s, p90 ${q(agentLag, 0.9).toFixed(2)} s, max ${q(agentLag, 1).toFixed(2)} s; sent→durable p50 ${q(cloudLag, 0.5).toFixed(2)} s, p90 ${q(cloudLag, 0.9).toFixed(2)} s, max ${q(cloudLag, 1).toFixed(2)} s`;
    console.error(`bench: rpo: ${splitNote}`);
    serve.kill('SIGTERM');
    await serveExit;
    let agentCpu = NaN;
    try {
      const u = JSON.parse(readFileSync(rusage, 'utf8')) as {
        userSeconds: number;
        systemSeconds: number;
      };
      agentCpu = u.userSeconds + u.systemSeconds;
    } catch {
      /* no rusage file */
    }

    const rows: BenchRow[] = [];
    for (let i = 0; i < phases.length; i++) {
      const ph = phases[i]!;
      // First point whose bookmark was appended after the ack (binary search by time).
      const rpo = ph.acks
        .map((a) => {
          let lo = 0;
          let hi = points.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (points[mid]!.time > a) hi = mid;
            else lo = mid + 1;
          }
          return lo < points.length ? (points[lo]!.publishedAt - a) / 1000 : Infinity;
        })
        .sort((a, b) => a - b);
      const third = (from: number, to: number) =>
        quantile(
          ph.acks
            .map((a, k) => ({ a, k }))
            .filter(
              ({ a }) =>
                a >= ph.start + (from * (ph.end - ph.start)) / 3 &&
                a < ph.start + (to * (ph.end - ph.start)) / 3,
            )
            .map(({ a }) => {
              const p = points.find((x) => x.time > a);
              return p ? (p.publishedAt - a) / 1000 : Infinity;
            })
            .sort((a, b) => a - b),
          0.5,
        );
      const lat = [...ph.latencies].sort((a, b) => a - b);
      const achieved = ph.bytes / (ph.end - ph.start) / 1e3;
      const bl = ph.backlog;
      const maxJournal = Math.max(0, ...bl.map((b) => b.journal)) / MiB;
      const endJournal = (bl[bl.length - 1]?.journal ?? 0) / MiB;
      const maxSpool = Math.max(0, ...bl.map((b) => b.spool)) / MiB;
      const p50 = quantile(rpo, 0.5);
      const p90 = quantile(rpo, 0.9);
      const p99 = quantile(rpo, 0.99);
      const max = rpo[rpo.length - 1]!;
      const firstThird = third(0, 1);
      const lastThird = third(2, 3);
      const keptUp = lastThird <= firstThird * 1.5 + 0.5 && drains[i]! < 10;
      // What the pipeline adds after the cut (the rest of the RPO is the wait for the cut).
      const cutLag = points
        .filter((p) => p.time >= ph.start && p.time <= ph.end)
        .map((p) => p.publishedAt - p.time)
        .sort((a, b) => a - b);
      const common = `${ph.writes} writes of 4–64 KiB, ${achieved.toFixed(1)} MB/s achieved over ${((ph.end - ph.start) / 1000).toFixed(0)} s, bookmark every ${intervalS} s; p50/p90/p99/max ${p50.toFixed(2)}/${p90.toFixed(2)}/${p99.toFixed(2)}/${max.toFixed(2)} s; ack p99 ${quantile(lat, 0.99)} ms; RPO p50 first third ${firstThird.toFixed(2)} s, last third ${lastThird.toFixed(2)} s; cut → durable p50 ${(quantile(cutLag, 0.5) / 1000).toFixed(2)} s, p90 ${(quantile(cutLag, 0.9) / 1000).toFixed(2)} s; journal backlog max ${maxJournal.toFixed(0)} MiB, end ${endJournal.toFixed(0)} MiB, spool max ${maxSpool.toFixed(0)} MiB; ${keptUp ? 'kept up' : 'FELL BEHIND'}; load ${loads[i]}; CPU during the phase: ${cpuNotes[i]}`;
      console.error(`bench: rpo ${ph.rateMBs} MB/s: ${common}`);
      // Hydration: lag of the phase's points (durable → materialized), its trend, and the page
      // writes the phase's churn cost (from the host's hydrate lines).
      const mine = points.filter((p) => p.time >= ph.start && p.time <= ph.end);
      const lags = mine.map((p) =>
        p.hydratedAt === undefined ? Infinity : (p.hydratedAt - p.publishedAt) / 1000,
      );
      const merged = mine.filter((p) => p.merged).length;
      const sortedLags = [...lags].sort((a, b) => a - b);
      const lagThird = (k: number) =>
        quantile(
          lags
            .slice(Math.floor((k * lags.length) / 3), Math.floor(((k + 1) * lags.length) / 3))
            .sort((a, b) => a - b),
          0.5,
        );
      const hl = hydrated[i]!;
      const writes = hl.log.reduce((n, l) => n + l.pageWrites + l.clears, 0);
      const readBacks = hl.log.reduce((n, l) => n + l.readBacks, 0);
      const perMB = writes / (ph.bytes / 1e6);
      const lagFirst = lagThird(0);
      const lagLast = lagThird(2);
      const bounded = lagLast <= lagFirst * 1.5 + 1;
      const rpoTarget = ph.rateMBs >= 50 ? 5 : 1.5;
      rows.push(
        {
          name: `rpo p50 at ${ph.rateMBs} MB/s churn (ack → point durable)`,
          value: p50,
          unit: 's',
          baselineName: 'target p50',
          baselineValue: 1.5,
          ratio: p50 / 1.5,
          note: `lower is better; ${common}`,
        },
        {
          name: `rpo p99 at ${ph.rateMBs} MB/s churn`,
          value: p99,
          unit: 's',
          baselineName: 'target p99',
          baselineValue: 5,
          ratio: p99 / 5,
          note: `lower is better; p90 ${p90.toFixed(2)} s, max ${max.toFixed(2)} s; target at this rate ${rpoTarget} s`,
        },
        {
          name: `hydration lag at ${ph.rateMBs} MB/s (durable → materialized), p50`,
          value: quantile(sortedLags, 0.5),
          unit: 's',
          baselineName: 'lag p50 first third of the phase',
          baselineValue: lagFirst,
          ratio: lagLast / Math.max(lagFirst, 0.001),
          note: `last third ${lagLast.toFixed(2)} s, max ${sortedLags[sortedLags.length - 1]?.toFixed(2)} s over ${mine.length} points in ${(ph.end - ph.start) / 1000} s (${merged} merged into a later one while catching up); ${bounded ? 'bounded' : 'GROWING'}; ratio = last third ÷ first third; all hydrated ${(hl.seconds - (ph.end - ph.start) / 1000).toFixed(1)} s after the phase`,
        },
        {
          name: `page writes per MB of random churn at ${ph.rateMBs} MB/s`,
          value: perMB,
          unit: 'req/MB',
          baselineName: 'writes in the phase (4–64 KiB each)',
          baselineValue: ph.writes / (ph.bytes / 1e6),
          ratio: perMB / (ph.writes / (ph.bytes / 1e6)),
          note: `lower is better; ${writes} page writes + clears for ${(ph.bytes / 1e6).toFixed(0)} MB (${hl.log.length} drains), read-backs ${readBacks}; needed at this churn ${(perMB * ph.rateMBs).toFixed(0)}/s (target ≤ 500/s at 50 MB/s), achieved over the hydration ${(writes / hl.seconds).toFixed(0)}/s`,
        },
      );
    }
    const span = (points[points.length - 1]!.time - points[0]!.time) / 1000;
    rows.push({
      name: 'rpo: points published (bookmark spacing p50/max)',
      value:
        quantile(
          [...pointGaps].sort((a, b) => a - b),
          0.5,
        ) / 1000,
      unit: 's',
      baselineName: 'policy interval',
      baselineValue: Number(intervalS),
      ratio:
        quantile(
          [...pointGaps].sort((a, b) => a - b),
          0.5,
        ) /
        1000 /
        Number(intervalS),
      note: `${points.length} points over ${span.toFixed(0)} s, max gap ${(Math.max(...pointGaps) / 1000).toFixed(2)} s; initial point ${initialSeconds.toFixed(1)} s; agent CPU ${agentCpu.toFixed(1)} s; emulators ${stackPersistent ? 'on disk' : 'in memory (HAVEN_BENCH_RPO_STACK=persistent: on disk)'}; ${verified}; ${splitNote}`,
    });
    return rows;
  } finally {
    await watcher?.stop().catch(() => undefined);
    await hydration?.stop().catch(() => undefined);
    if (serve && serve.exitCode === null) {
      serve.kill('SIGTERM');
      await Promise.race([new Promise((r) => serve!.once('exit', r)), sleep(20_000)]);
      if (serve.exitCode === null) serve.kill('SIGKILL');
    }
    await stack?.stop();
    if (process.env.HAVEN_BENCH_KEEP) {
      writeFileSync(join(work, 'serve.log'), serveLog);
      console.error(`bench: kept ${work}`);
    } else if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
