import { randomBytes } from 'node:crypto';
import { extname, join } from 'node:path';
import { RECOVERY_CONTAINER } from '../../core/recovery/resourceNames';
import type { OperationHandle, ResourceSpec } from '../../core/recovery/ports';
import { REPLICAS } from '../../core/replication/names';
import { FileRecoveryTarget, idOf } from '../support/fileRecoveryTarget';
import { addPoint, recoverableMachine } from '../support/recoverableMachine';
import { benchHost } from './benchHost';
import type { BenchRow } from './row';

/**
 * Recovery orchestration without a VM: test failover, its cleanup and a failover of a machine
 * whose replica holds real data, through the real host, durable backend, Cosmos and Azurite
 * (the point's snapshot really is copied to a base blob), against the file-backed target (ARM
 * operations finish on their second poll, the probe answers at once). So it is what Haven adds
 * to an RTO besides Azure's own disk import, VM create and the guest's boot. Baseline, same run:
 * the same blob copy and target operations called directly, one after another.
 */
const MiB = 1024 * 1024;

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const bench = await benchHost('recovery');
  const { root, call, stateDir } = bench;
  const sizeMiB = quick ? 64 : 256;
  const { blobs } = root.replication.deps;
  const machineId = await recoverableMachine(root, { sda: sizeMiB * MiB });
  // A quarter of the disk written (4 MiB pages spread over it): the copy moves real ranges.
  await addPoint(root, machineId, 'p1', async (_d, blob) => {
    for (let off = 0; off < sizeMiB * MiB; off += 16 * MiB)
      await blobs.uploadPages(REPLICAS, blob, off, randomBytes(4 * MiB));
  });
  await bench.start(
    join(__dirname, `../local/durable/fixtures/recoveryApp${extname(__filename)}`),
    'RecoveryBench',
  );
  /** Starts an operation, waits for its job; seconds and the job's step timings. */
  const timed = async (op: string, body: unknown = {}) => {
    const t = process.hrtime.bigint();
    const job = await call('POST', `machines/${machineId}/${op}`, body);
    for (;;) {
      const j = await call('GET', `jobs/${String(job.id)}`);
      if (j.state === 'succeeded' || j.state === 'failed') {
        if (j.state !== 'succeeded') throw new Error(`${op}: ${JSON.stringify(j.error)}`);
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        const timings = ((j.result as Record<string, unknown>).timings ?? {}) as Record<
          string,
          number
        >;
        return { seconds, timings };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await timed('test-failover'); // warm-up (module loading, first replays)
    await timed('test-failover-cleanup');
    const test = await timed('test-failover');
    const cleanup = await timed('test-failover-cleanup');
    const failover = await timed('failover');

    // Baseline: the same copy and target operations, called directly in sequence.
    const direct = new FileRecoveryTarget(join(stateDir, 'direct.json'));
    const snapshot = (await root.replication.deps.docs.points.get(machineId, 'p1'))!.doc;
    const piece = (snapshot as { disks: { blob: string; snapshot: string }[] }).disks[0]!;
    const until = async (h: OperationHandle) => {
      while ((await direct.poll(h)).status === 'running');
    };
    const t0 = process.hrtime.bigint();
    await blobs.ensureContainer(RECOVERY_CONTAINER);
    await blobs.copyBlob(
      { container: REPLICAS, name: piece.blob, snapshot: piece.snapshot },
      RECOVERY_CONTAINER,
      'bench.vhd',
    );
    const rg = 'rg-direct';
    const specs: ResourceSpec[] = [
      { type: 'Microsoft.Resources/resourceGroups', name: rg, location: 'local' },
      {
        type: 'Microsoft.Network/virtualNetworks',
        resourceGroup: rg,
        name: 'v',
        location: 'local',
        addressPrefixes: ['10.0.0.0/24'],
        subnets: [{ name: 'default', addressPrefix: '10.0.0.0/24' }],
      },
      {
        type: 'Microsoft.Network/networkSecurityGroups',
        resourceGroup: rg,
        name: 'n',
        location: 'local',
        rules: [],
      },
      {
        type: 'Microsoft.Network/publicIPAddresses',
        resourceGroup: rg,
        name: 'p',
        location: 'local',
      },
    ];
    for (const s of specs) await until(await direct.beginPut(s));
    const nic: ResourceSpec = {
      type: 'Microsoft.Network/networkInterfaces',
      resourceGroup: rg,
      name: 'nic',
      location: 'local',
      subnetId: `${idOf(specs[1]!)}/subnets/default`,
      publicIpId: idOf(specs[3]!),
      networkSecurityGroupId: idOf(specs[2]!),
    };
    const disk: ResourceSpec = {
      type: 'Microsoft.Compute/disks',
      resourceGroup: rg,
      name: 'd',
      location: 'local',
      source: { kind: 'import', sourceUri: 'http://x/recovery/bench.vhd', storageAccountId: 'sa' },
    };
    await until(await direct.beginPut(nic));
    await until(await direct.beginPut(disk));
    await blobs.deleteBlob(RECOVERY_CONTAINER, 'bench.vhd');
    await until(
      await direct.beginPut({
        type: 'Microsoft.Compute/virtualMachines',
        resourceGroup: rg,
        name: 'vm',
        location: 'local',
        size: 'Standard_B2s',
        osDiskId: idOf(disk),
        osType: 'Linux',
        dataDisks: [],
        networkInterfaceIds: [idOf(nic)],
        bootDiagnostics: true,
      }),
    );
    const directSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

    const steps = (t: Record<string, number>) =>
      Object.entries(t)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}`)
        .join(', ');
    return [
      {
        name: `test failover, ${sizeMiB} MiB disk, no VM (file target)`,
        value: test.seconds,
        unit: 's',
        baselineName: 'same copy + ARM calls, direct',
        baselineValue: directSeconds,
        ratio: test.seconds / directSeconds,
        note: `steps (s): ${steps(test.timings)}; poll 100 ms; lower is better`,
      },
      {
        name: 'test failover cleanup, no VM (file target)',
        value: cleanup.seconds,
        unit: 's',
        baselineName: 'same copy + ARM calls, direct',
        baselineValue: directSeconds,
        ratio: cleanup.seconds / directSeconds,
        note: `steps (s): ${steps(cleanup.timings)}`,
      },
      {
        name: `failover API call → probe OK, ${sizeMiB} MiB, no VM boot (file target)`,
        value: failover.seconds,
        unit: 's',
        baselineName: 'same copy + ARM calls, direct',
        baselineValue: directSeconds,
        ratio: failover.seconds / directSeconds,
        note: `Haven's share of the RTO; steps (s): ${steps(failover.timings)}`,
      },
    ];
  } finally {
    await bench.stop();
  }
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
