import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
import { join } from 'node:path';
import { sha256File } from '../../local/images/ext4';
import { HydrationWatcher } from './hydrationWatcher';
import { PacedNbdClient } from './rpoNbd';
import type { BenchRow } from './row';
import { coresBusy, sampleCpu, type CpuPart } from './processCpu';
import { adminApi } from '../support/adminApi';
import { controlRequest } from '../../edge-agent/nbd/controlClient';
import { churn, type Phase } from './rpoChurn';
import { agentCli, agentJson } from './rpoAgent';
import { PointWatcher, pointTimes } from './rpoPoints';
import { bookmarkSplit, phaseRows, pointsRow } from './rpoRows';
import { nodeFlags, startStack, stackPersistent, type HydrateLine, type Stack } from './rpoStack';

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
const preload = join(__dirname, 'rusagePreload.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    const splitNote = bookmarkSplit(points, sentAt);
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
    for (let i = 0; i < phases.length; i++)
      rows.push(
        ...phaseRows(phases[i]!, points, {
          drainS: drains[i]!,
          load: loads[i]!,
          cpuNote: cpuNotes[i]!,
          hydrated: hydrated[i]!,
          intervalS,
        }),
      );
    rows.push(
      pointsRow(points, intervalS, [
        `initial point ${initialSeconds.toFixed(1)} s`,
        `agent CPU ${agentCpu.toFixed(1)} s`,
        `emulators ${stackPersistent ? 'on disk' : 'in memory (HAVEN_BENCH_RPO_STACK=persistent: on disk)'}`,
        verified,
        splitNote,
      ]),
    );
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
