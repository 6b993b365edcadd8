import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack/startLocalStack';
import { makeExt4Image, sha256File } from '../../local/images/ext4';
import {
  azuriteRawWriteSeconds,
  catSeconds,
  resticAgainSeconds,
  resticBackupSeconds,
  rsyncDeltaSeconds,
  rsyncSeconds,
} from './baselines';
import type { BenchRow } from './row';
import { agentBin, agentRunOnce } from './agentRunOnce';
import { HubBytes } from './hubBytes';
import { breakdown, drainLogged, printBreakdown, type Mark } from './phaseMarks';
import { coresBusy, sampleCpu, type CpuPart } from './processCpu';
import { StorageRequests } from './storageRequests';
import { churn, cli, waitMaterialized } from './replicationSteps';

/**
 * End-to-end replication: the local stack in-process (persistent state on disk, as `npm start`
 * runs it: Azurite files, Cosmos snapshots, Event Hubs log), the agent CLI as a child process
 * (`run --once`: scan, batch, spool, claim-check uploads, Event Hubs send, then polling for the
 * recovery point), the cloud side in the host (ingest verify + stage, nudge, hydrate, snapshot,
 * point publication). Each figure is set against baselines measured in the same run, and each
 * recovery point is restored and compared byte for byte (sha256) with the source at its bookmark.
 */
const MiB = 1024 * 1024;
const MB = 1e6;
const root = resolve(__dirname, '..', '..', '..');
const havenBin = join(root, 'bin', 'haven.js');

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const sizeMiB = quick ? 256 : 2048;
  const label = quick ? '256 MiB' : '2 GiB';
  const size = sizeMiB * MiB;
  const work = mkdtempSync(join(tmpdir(), 'haven-bench-repl-'));
  const marks: Mark[] = [];
  let stack: LocalStack | undefined;
  let hub: HubBytes | undefined;
  try {
    const image = join(work, 'disk.img');
    makeExt4Image(image, size, { fill: 0.4 });
    // Persistent stack (Azurite files, Cosmos snapshots, Event Hubs log on disk), as `npm start`.
    stack = await startLocalStack({
      stateDir: join(work, 'haven'),
      port: 0,
      fresh: true,
      persistent: true,
      log: {
        info: (m) => marks.push({ at: Date.now(), src: 'host', msg: m }),
        warn: (m) => marks.push({ at: Date.now(), src: 'host', msg: m }),
        error: (m) => {
          marks.push({ at: Date.now(), src: 'host', msg: m });
          console.error(`bench: host error: ${m}`);
        },
      },
    });
    const admin = ['--api', stack.apiUrl, '--key', stack.env.HAVEN_ADMIN_KEY!, '--json'];
    const site = JSON.parse(await cli(havenBin, ['site', 'create', 'bench', ...admin])) as {
      id: string;
    };
    await cli(havenBin, ['policy', 'set', 'bench', '--crash-interval', '5s', ...admin]);
    const { token } = JSON.parse(
      await cli(havenBin, ['token', 'create', '--site', site.id, '--ttl', '1h', ...admin]),
    ) as { token: string };
    const agentDir = join(work, 'agent');
    const agent = (...args: string[]) => cli(agentBin, [...args, '--state-dir', agentDir]);
    const { machineId } = JSON.parse(
      await agent('enroll', '--api', stack.apiUrl, '--token', token, '--name', 'bench', '--json'),
    ) as { machineId: string };
    const { id: diskId } = JSON.parse(await agent('disk', 'add', image, '--json')) as {
      id: string;
    };
    await cli(havenBin, ['protect', machineId, '--policy', 'bench', ...admin]);
    hub = new HubBytes(
      stack.settings.HAVEN_EVENTHUBS_CONNECTION!,
      stack.settings.HAVEN_EVENTHUBS_HUB!,
    );

    // ---- initial sync
    const requests = new StorageRequests(
      stack.env.HAVEN_STORAGE_CONNECTION!.match(/BlobEndpoint=([^;]+)/)![1]!,
    );
    catSeconds(image); // warm the page cache: every contender reads from it
    const pos0 = await hub.positions();
    const m0 = marks.length;
    const r0 = requests.snapshot();
    const o0 = requests.opsSnapshot();
    // Who burns the cores (is the machine itself the limit?): the host runs in this process;
    // the agent, which has exited when its run returns, reports its own CPU (resource usage).
    const cpuParts: CpuPart[] = [
      { label: 'Azurite', match: /azurite/ },
      { label: 'Functions host + emulators', pid: process.pid },
    ];
    const cpu0 = sampleCpu(cpuParts);
    const t0 = Date.now();
    const initial = await agentRunOnce(agentDir, work);
    // The agent returns once the point is durable; the target is the point materialized.
    const materializedSecs =
      ((await waitMaterialized(stack, machineId, initial.pointId)) - t0) / 1000;
    const cpu1 = sampleCpu(cpuParts);
    cpu1.set('agent', initial.cpuSeconds);
    cpu1.set('rest of the machine', cpu1.get('rest of the machine')! - initial.cpuSeconds);
    const initialCpu = coresBusy(cpu0, cpu1, materializedSecs, cpus().length);
    // The drain that published the point deletes what it applied after that: count those too.
    await drainLogged(marks, m0);
    const initialRequests = requests.since(r0);
    console.error('bench: replication initial sync, storage requests by container, method, comp:');
    for (const [op, n] of [...requests.opsSince(o0)].sort((a, z) => z[1] - a[1]))
      console.error(`  ${op.replace(/^in-m-\w+/, 'in-<machine>').padEnd(42)} ${n}`);
    const initialMarks = [...marks.slice(m0), ...initial.marks].sort((a, z) => a.at - z.at);
    const initialWire = await hub.between(pos0, await hub.positions());
    const cloudRequests = [...initialRequests.values()].reduce((n, v) => n + v, 0);
    const storageRequests = cloudRequests + initialWire.claims; // + the agent's claim uploads
    // The Functions host's own containers (checkpoints and ownership, timer locks) are paid by
    // the second, not by the byte: shown apart, as the load of the machine stretches them.
    const hostRequests = [...initialRequests]
      .filter(([c]) => c.startsWith('azure-webjobs-'))
      .reduce((n, [, v]) => n + v, 0);
    const byContainer = [...initialRequests]
      .sort((a, z) => z[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    const source1 = join(work, 'source-p1.img');
    copyFileSync(image, source1);
    printBreakdown(`initial ${label}`, breakdown(initialMarks), initialMarks);

    // Baselines of the initial sync, same run, same page cache.
    const cat = catSeconds(image);
    const raw = await azuriteRawWriteSeconds(stack.env.HAVEN_STORAGE_CONNECTION!, image);
    const restic = resticBackupSeconds(image);
    const rsync = rsyncSeconds(image);

    // Correctness: restore the point and compare it with the source at its bookmark.
    const restored1 = join(work, 'restored-p1.img');
    const t = Date.now();
    await agent(
      'restore',
      '--point',
      initial.pointId,
      '--disk',
      diskId,
      '--to',
      restored1,
      '--json',
    );
    const restoreSecs = (Date.now() - t) / 1000;
    const want1 = sha256File(source1);
    if (sha256File(restored1) !== want1)
      throw new Error(`restored ${initial.pointId} differs from the source at its bookmark`);
    rmSync(restored1, { force: true });

    // ---- delta: 1% of the 4 KiB blocks at random offsets
    const changed = churn(image, 0.01);
    catSeconds(image);
    const pos1 = await hub.positions();
    const m1 = marks.length;
    const delta = await agentRunOnce(agentDir, work);
    const deltaMarks = [...marks.slice(m1), ...delta.marks].sort((a, z) => a.at - z.at);
    const deltaWire = await hub.between(pos1, await hub.positions());
    printBreakdown('delta 1%', breakdown(deltaMarks), deltaMarks);
    const rsyncDelta = rsyncDeltaSeconds(source1, image);
    const resticAgain = resticAgainSeconds(restic.repoDir, image);
    rmSync(restic.repoDir, { recursive: true, force: true });

    const restored2 = join(work, 'restored-p2.img');
    await agent('restore', '--point', delta.pointId, '--disk', diskId, '--to', restored2, '--json');
    if (sha256File(restored2) !== sha256File(image))
      throw new Error(`restored ${delta.pointId} differs from the source at its bookmark`);

    const rate = (s: number) => size / MB / s;
    const verified = 'restored point sha256 = source';
    return [
      {
        name: `replication initial sync ${label} mixed ext4 (run --once → point materialized)`,
        value: rate(materializedSecs),
        unit: 'MB/s',
        baselineName: 'raw Azurite uploadPages 4 MiB ×4',
        baselineValue: rate(raw),
        ratio: raw / materializedSecs,
        note: `higher is better; target ≥ 0.5×; ${materializedSecs.toFixed(1)} s to materialized, ${initial.seconds.toFixed(1)} s to durable (run --once returned); ${verified}; CPU until materialized: ${initialCpu}`,
      },
      {
        name: `replication initial sync ${label}: storage requests per GiB`,
        value: storageRequests / (size / 1024 ** 3),
        unit: 'req/GiB',
        baselineName: 'raw uploadPages 4 MiB (the same bytes)',
        baselineValue: 256,
        ratio: storageRequests / (size / 1024 ** 3) / 256,
        note: `lower is better; target ≤ 300; ${storageRequests} requests: ${initialWire.claims} claim uploads (agent), cloud side ${byContainer} (until materialized and its drain's deletes done, all timers included); without the host's containers ${((storageRequests - hostRequests) / (size / 1024 ** 3)).toFixed(0)} req/GiB`,
      },
      {
        name: `replication initial sync ${label} vs cat`,
        value: rate(initial.seconds),
        unit: 'MB/s',
        baselineName: 'cat image > /dev/null',
        baselineValue: rate(cat),
        ratio: cat / initial.seconds,
        note: 'higher is better; page cache warm',
      },
      {
        name: `replication initial sync ${label} vs restic`,
        value: rate(initial.seconds),
        unit: 'MB/s',
        baselineName: 'restic backup (local repo)',
        baselineValue: rate(restic.initial),
        ratio: restic.initial / initial.seconds,
        note: 'higher is better',
      },
      {
        name: `replication initial sync ${label} vs rsync`,
        value: rate(initial.seconds),
        unit: 'MB/s',
        baselineName: 'rsync --whole-file to local dir',
        baselineValue: rate(rsync),
        ratio: rsync / initial.seconds,
        note: 'higher is better',
      },
      {
        name: `replication initial sync wire bytes / disk size`,
        value: initialWire.envelopeBytes / MiB,
        unit: 'MiB',
        baselineName: 'disk size',
        baselineValue: sizeMiB,
        ratio: initialWire.envelopeBytes / size,
        note: `lower is better; ${initialWire.events} events, ${initialWire.claims} claim checks (read back from the hub)`,
      },
      {
        name: `replication delta (1% of 4 KiB blocks) bytes sent / bytes changed`,
        value: deltaWire.envelopeBytes / MiB,
        unit: 'MiB',
        baselineName: 'bytes changed',
        baselineValue: changed.bytes / MiB,
        ratio: deltaWire.envelopeBytes / changed.bytes,
        note: `lower is better; target ≤ 1.1×; ${changed.blocks} blocks; ${deltaWire.events} events, ${deltaWire.claims} claim checks`,
      },
      {
        name: `replication delta pass (run --once → point)`,
        value: delta.seconds,
        unit: 's',
        baselineName: 'rsync delta onto old copy',
        baselineValue: rsyncDelta,
        ratio: delta.seconds / rsyncDelta,
        note: `lower is better; ${verified}`,
      },
      {
        name: `replication delta pass vs restic`,
        value: delta.seconds,
        unit: 's',
        baselineName: 'restic backup (2nd snapshot)',
        baselineValue: resticAgain,
        ratio: delta.seconds / resticAgain,
        note: 'lower is better',
      },
      {
        name: `replication agent CPU, initial sync ${label}`,
        value: initial.cpuSeconds,
        unit: 's',
        baselineName: 'wall time of run --once',
        baselineValue: initial.seconds,
        ratio: initial.cpuSeconds / initial.seconds,
        note: 'ratio = agent cores busy (process.resourceUsage at exit)',
      },
      {
        name: `replication agent peak RSS, initial sync ${label}`,
        value: initial.peakRssMiB,
        unit: 'MiB',
        baselineName: 'disk size',
        baselineValue: sizeMiB,
        ratio: initial.peakRssMiB / sizeMiB,
        note: 'lower is better (maxRSS of the agent process)',
      },
      {
        name: `replication restore ${label} (point → image)`,
        value: rate(restoreSecs),
        unit: 'MB/s',
        baselineName: 'rsync --whole-file to local dir',
        baselineValue: rate(rsync),
        ratio: rsync / restoreSecs,
        note: 'higher is better; sha256 verified',
      },
    ];
  } finally {
    await hub?.close().catch(() => undefined);
    await stack?.stop();
    if (!process.env.HAVEN_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) console.error(`bench: kept ${work}`);
  }
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
