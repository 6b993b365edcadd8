import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startLocalStack, type LocalStack } from '../stack/startLocalStack';
import { debugfsWrite, fsckClean, makeExt4Image, sha256File } from '../images/ext4';
import { replicateThroughSplitter } from './continuous';
import { planFailoverByAlert } from './planDemo';
import { singleMachineRecovery } from './recoveryDemo';
import { wayBack } from './failbackDemo';
import { stopLocalArmVms } from '../arm/localArm';
import { checkReplicaAccount } from './replicaAccount';

/**
 * `npm run demo`: the furthest Haven goes today, on one machine. Starts the local stack, enrolls
 * an agent, protects a real ext4 disk image, replicates it through Event Hubs into a replica page
 * blob, cuts recovery points, restores each point to a new image and proves it byte-identical to
 * the source at its bookmark (sha256 + e2fsck), resyncs the disk as a new generation and proves
 * both the new point and an old-generation point, then replicates continuously through the NBD
 * write splitter (serve-disk) and proves that point too; then brings servers up in Azure (local
 * ARM, QEMU guests): one machine through test failover, failover, change of point and commit,
 * then a recovery plan failed over by an alert.
 */
const execFileP = promisify(execFile);
const root = resolve(__dirname, '..', '..', '..');
const havenBin = join(root, 'bin', 'haven.js');
const agentBin = join(root, 'bin', 'haven-agent.js');

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const ok = (text: string) => console.log(`    ✓ ${text}`);

async function run(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${bin.split('/').pop()} ${args[0]} ${args[1] ?? ''} failed: ${(err.stderr || err.stdout || err.message).trim()}`,
    );
  }
}

const json = <T>(s: string): T => JSON.parse(s) as T;

async function main(): Promise<void> {
  const sizeMiB = Number(process.env.HAVEN_DEMO_DISK_MIB ?? 256);
  const work = mkdtempSync(join(tmpdir(), 'haven-demo-'));
  const t0 = Date.now();
  let stack: LocalStack | undefined;
  try {
    step(
      1,
      'Starting the local stack (Azurite: two storage accounts, Cosmos emulator, Event Hubs endpoint, Functions host)',
    );
    // The replicas in a storage account of their own, as deployed (infra/main.bicep).
    stack = await startLocalStack({
      stateDir: join(work, 'haven'),
      port: 0,
      fresh: true,
      replicaAccount: true,
    });
    ok(`API at ${stack.apiUrl}`);
    const admin = ['--api', stack.apiUrl, '--key', stack.env.HAVEN_ADMIN_KEY!, '--json'];

    step(2, `Making a ${sizeMiB} MiB ext4 disk image with mixed content (the "server")`);
    const disk = join(work, 'server-disk.img');
    makeExt4Image(disk, sizeMiB * 1024 * 1024, { fill: 0.4 });
    ok(
      `${disk} (${(statSync(disk).size / 2 ** 20).toFixed(0)} MiB, fsck ${fsckClean(disk) ? 'clean' : 'NOT clean'})`,
    );

    step(3, 'Admin: site, replication policy, one-time enrollment token');
    const site = json<{ id: string }>(
      await run(havenBin, ['site', 'create', 'branch-office', ...admin]),
    );
    await run(havenBin, [
      'policy',
      'set',
      'fast',
      '--crash-interval',
      '5s',
      '--retention',
      '24h',
      ...admin,
    ]);
    const token = json<{ token: string }>(
      await run(havenBin, ['token', 'create', '--site', site.id, '--ttl', '1h', ...admin]),
    );
    ok(`site ${site.id}, policy 'fast', token issued (shown once)`);

    step(4, 'Agent: enroll with the token, add the disk');
    const agentDir = join(work, 'agent');
    const agent = (...args: string[]) => run(agentBin, [...args, '--state-dir', agentDir]);
    const enrolled = json<{ machineId: string }>(
      await agent(
        'enroll',
        '--api',
        stack.apiUrl,
        '--token',
        token.token,
        '--name',
        'demo-server',
        '--json',
      ),
    );
    const added = json<{ id: string }>(await agent('disk', 'add', disk, '--json'));
    ok(`machine ${enrolled.machineId}, disk ${added.id}`);

    step(
      5,
      'Admin: protect the machine (enable-protection saga: replica page blob, staging, initial sync)',
    );
    const { job } = json<{ job: { id: string } }>(
      await run(havenBin, ['protect', enrolled.machineId, '--policy', 'fast', ...admin]),
    );
    ok(`protection job ${job.id}`);

    step(6, 'Agent: initial replication, bookmark, wait for the recovery point');
    let t = Date.now();
    const p1 = json<{ recoveryPoint: { id: string } }>(await agent('run', '--once', '--json'))
      .recoveryPoint.id;
    const syncSecs = (Date.now() - t) / 1000;
    const source1 = join(work, 'source-at-p1.img');
    copyFileSync(disk, source1);
    ok(
      `recovery point ${p1} in ${syncSecs.toFixed(1)} s (${(sizeMiB / syncSecs).toFixed(0)} MiB/s)`,
    );
    ok(await checkReplicaAccount(stack));

    step(7, 'The server keeps changing: write files with debugfs, replicate the delta');
    for (let i = 0; i < 5; i++)
      debugfsWrite(disk, `/changed-${i}.bin`, randomBytes(256 * 1024 * (i + 1)));
    t = Date.now();
    const p2 = json<{ recoveryPoint: { id: string } }>(await agent('run', '--once', '--json'))
      .recoveryPoint.id;
    ok(`recovery point ${p2} in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    step(8, 'Restore both recovery points to new images and prove them byte-identical');
    const restoreAndCheck = async (point: string, source: string) => {
      const target = join(work, `restored-${point}.img`);
      await agent('restore', '--point', point, '--disk', added.id, '--to', target, '--json');
      const want = sha256File(source);
      const got = sha256File(target);
      if (want !== got)
        throw new Error(`restored ${point} differs from the source: ${got} != ${want}`);
      if (!fsckClean(target)) throw new Error(`restored ${point} is not a clean ext4 filesystem`);
      ok(`${point}: sha256 ${got.slice(0, 16)}… equals the source at its bookmark; e2fsck clean`);
    };
    const source2 = join(work, 'source-at-p2.img');
    copyFileSync(disk, source2);
    await restoreAndCheck(p1, source1);
    await restoreAndCheck(p2, source2);

    step(
      9,
      'Admin: resync the disk (a new generation into a fresh replica); older points stay restorable',
    );
    const resync = json<{ disk: { generation: number } }>(
      await run(havenBin, ['resync', enrolled.machineId, added.id, '--reason', 'demo', ...admin]),
    );
    debugfsWrite(disk, '/after-resync.bin', randomBytes(512 * 1024));
    t = Date.now();
    const p3 = json<{ recoveryPoint: { id: string } }>(await agent('run', '--once', '--json'))
      .recoveryPoint.id;
    ok(
      `generation ${resync.disk.generation} replicated from scratch: point ${p3} in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    await restoreAndCheck(p3, disk);
    await restoreAndCheck(p1, source1);

    step(
      10,
      'Continuous replication: serve-disk journals every write (NBD write splitter); files written through it by qemu-io',
    );
    const live = await replicateThroughSplitter({
      work,
      disk,
      diskId: added.id,
      machineId: enrolled.machineId,
      agentBin,
      agentDir,
      apiUrl: stack.apiUrl,
      adminKey: stack.env.HAVEN_ADMIN_KEY!,
    });
    ok(
      `${(live.bytes / 2 ** 20).toFixed(1)} MiB written through NBD; point ${live.point} published ${live.secondsAfterAck.toFixed(1)} s after the last acknowledged write`,
    );
    await restoreAndCheck(live.point, disk);
    ok(
      `timed consistency-group cut ${live.group.point}: inserted at the control plane's moment, writes held 100 ms after it (barrier across ${live.group.members} member)`,
    );
    await restoreAndCheck(live.group.point, disk);

    step(11, 'The machine as the admin sees it: protection, replication health, disk generations');
    console.log(
      await run(havenBin, [
        'machine',
        enrolled.machineId,
        '--api',
        stack.apiUrl,
        '--key',
        stack.env.HAVEN_ADMIN_KEY!,
      ]),
    );

    const parts = { work, stack, havenBin, agentBin, run, ok };
    const recovered = await singleMachineRecovery({ ...parts, step: (text) => step(12, text) });
    await planFailoverByAlert({ ...parts, step: (text) => step(13, text) });
    await wayBack({ ...parts, step: (text) => step(14, text) }, recovered);

    console.log(`\nDemo passed in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
  } finally {
    await stack?.stop();
    // Guests outlive their stack by design (a restart adopts them): this one is going away.
    await stopLocalArmVms(join(work, 'haven'));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`\nDemo FAILED: ${(e as Error).message}`);
  process.exit(1);
});
