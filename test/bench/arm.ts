import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { ArmRecoveryTarget } from '../../adapters/arm/armRecoveryTarget';
import { fixedVhdFooter } from '../../core/replication/vhdFooter';
import { startLocalArm } from '../../local/arm/localArm';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { startAzurite } from '../../local/stack/azurite';
import { platformStatus } from '../../local/vm/platform';
import { QemuVmRunner } from '../../local/vm/qemuRunner';
import { put, uploadVhd } from '../support/armFixture';
import { waitFor } from '../support/waitFor';
import type { BenchRow } from './row';

/**
 * The local ARM endpoint through the real clients (the ARM adapter), next to the plain work it
 * stands for: Import of a mostly empty replica (only its written page ranges are read) against
 * downloading the whole blob; an incremental snapshot (sparse copy plus the block digests that
 * make changed ranges exact) against the sparse copy alone; the changed ranges between two
 * snapshots against comparing the two files; and, where the VM platform is ready, create VM →
 * its web service answers at the public IP against the runner starting the same disk directly.
 */
const MiB = 1024 * 1024;
const LOCATION = 'local';

const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;
const clock = () => process.hrtime.bigint();
const row = (
  name: string,
  value: number,
  baselineName: string,
  baselineValue: number,
  note?: string,
): BenchRow => ({
  name,
  value,
  unit: 's',
  baselineName,
  baselineValue,
  ratio: value / baselineValue,
  ...(note ? { note } : {}),
});

/** Naive diff of two equally sized files, 64 KiB blocks (what the digest maps spare). */
function compareFiles(a: string, b: string): number {
  const [fa, fb] = [openSync(a, 'r'), openSync(b, 'r')];
  const [x, y] = [Buffer.alloc(4 * MiB), Buffer.alloc(4 * MiB)];
  let changed = 0;
  try {
    for (let o = 0; ; o += x.length) {
      const n = readSync(fa, x, 0, x.length, o);
      if (n <= 0) break;
      readSync(fb, y, 0, n, o);
      for (let k = 0; k < n; k += 64 * 1024)
        if (!x.subarray(k, k + 65536).equals(y.subarray(k, k + 65536))) changed++;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
  return changed;
}

async function answers(ip: string): Promise<true | undefined> {
  try {
    const r = await fetch(`http://${ip}/health`, { signal: AbortSignal.timeout(2_000) });
    return r.ok ? true : undefined;
  } catch {
    return undefined;
  }
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const azurite = await startAzurite();
  const stateDir = mkdtempSync(join(tmpdir(), 'arm-bench-'));
  const arm = await startLocalArm({
    stateDir,
    storageConnection: azurite.connectionString,
    location: LOCATION,
  });
  const rows: BenchRow[] = [];
  try {
    const target = new ArmRecoveryTarget({
      endpoint: arm.endpoint,
      subscriptionId: arm.subscriptionId,
      credential: 'static-token',
      token: arm.token,
      caCert: arm.caCertPath,
    });
    const sub = target.subscriptionPath;
    const rg = 'rg-bench';
    const id = (type: string, name: string) =>
      `${sub}/resourceGroups/${rg}/providers/${type}/${name}`;
    const fileOf = (type: string, name: string) =>
      (
        JSON.parse(readFileSync(join(stateDir, 'arm', 'state.json'), 'utf8')) as {
          resources: Record<string, { local: { file: string } }>;
        }
      ).resources[id(type, name).toLowerCase()]!.local.file;
    await put(target, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });

    // A replica-shaped page blob, 1/128 of it written in 1 MiB pieces spread over the disk.
    const size = (quick ? 256 : 2048) * MiB;
    const label = `${size / MiB} MiB (${size / 128 / MiB} MiB written)`;
    const container = BlobServiceClient.fromConnectionString(
      azurite.connectionString,
    ).getContainerClient('replicas');
    await container.createIfNotExists();
    const replica = container.getPageBlobClient('bench.vhd');
    await replica.create(size + 512);
    for (let o = 0; o < size; o += 128 * MiB) await replica.uploadPages(randomBytes(MiB), o, MiB);
    await replica.uploadPages(fixedVhdFooter(size, 'bench', 0), size, 512);
    const uri = replica.url;
    let t = clock();
    await put(target, {
      type: 'Microsoft.Compute/disks',
      resourceGroup: rg,
      name: 'imported',
      location: LOCATION,
      source: { kind: 'import', sourceUri: uri, storageAccountId: arm.storageAccountId! },
    });
    const imported = since(t);
    const whole = join(stateDir, 'whole.vhd');
    t = clock();
    await replica.downloadToFile(whole);
    rows.push(row(`managed disk Import, ${label}`, imported, 'download the whole blob', since(t)));
    rmSync(whole);

    const snapshot = async (name: string) => {
      const t0 = clock();
      await put(target, {
        type: 'Microsoft.Compute/snapshots',
        resourceGroup: rg,
        name,
        location: LOCATION,
        sourceResourceId: id('Microsoft.Compute/disks', 'imported'),
        incremental: true,
      });
      return since(t0);
    };
    const snapTime = await snapshot('s1');
    const disk = fileOf('Microsoft.Compute/disks', 'imported');
    t = clock();
    execFileSync('cp', ['--sparse=always', disk, join(stateDir, 'plain-copy.raw')]);
    rows.push(
      row(`incremental snapshot, ${size / MiB} MiB disk`, snapTime, 'cp --sparse=always', since(t)),
    );
    rmSync(join(stateDir, 'plain-copy.raw'));
    // What a VM writes between two points: 64 scattered 64 KiB blocks.
    const fd = openSync(disk, 'r+');
    for (let i = 0; i < 64; i++)
      writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, Math.floor((i * size) / 64));
    closeSync(fd);
    await snapshot('s2');
    t = clock();
    const ranges = await target.changedRanges(
      id('Microsoft.Compute/snapshots', 's2'),
      id('Microsoft.Compute/snapshots', 's1'),
    );
    const diffTime = since(t);
    t = clock();
    const naive = compareFiles(
      fileOf('Microsoft.Compute/snapshots', 's1'),
      fileOf('Microsoft.Compute/snapshots', 's2'),
    );
    rows.push(
      row(
        `changed ranges between 2 snapshots, ${size / MiB} MiB`,
        diffTime,
        'compare both files',
        since(t),
        `${ranges.length} ranges, ${naive} blocks differ`,
      ),
    );
    if (platformStatus().ready) rows.push(await vmRow(target, azurite.connectionString, arm, id));
    else console.error('bench: arm: VM platform not ready (npm run setup): VM row skipped');
  } finally {
    await arm.stop({ stopVms: true });
    await azurite.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}

/** create VM (imported bootable disk, NSG for port 80, public IP, NIC) → /health answers. */
async function vmRow(
  target: ArmRecoveryTarget,
  storage: string,
  arm: { storageAccountId?: string; stop(o?: { stopVms?: boolean }): Promise<void> },
  id: (type: string, name: string) => string,
): Promise<BenchRow> {
  const rg = 'rg-bench';
  const work = mkdtempSync(join(tmpdir(), 'arm-bench-vm-'));
  try {
    const img = join(work, 'server.img');
    makeBootableServerImage(img, { sizeBytes: 32 * MiB, hostname: 'bench' });
    const uri = await uploadVhd(storage, 'replicas', 'server.vhd', readFileSync(img));
    const base = { resourceGroup: rg, location: LOCATION };
    await put(target, {
      ...base,
      type: 'Microsoft.Compute/disks',
      name: 'os',
      source: { kind: 'import', sourceUri: uri, storageAccountId: arm.storageAccountId! },
    });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/virtualNetworks',
      name: 'vnet',
      addressPrefixes: ['10.70.0.0/16'],
      subnets: [{ name: 'default', addressPrefix: '10.70.1.0/24' }],
    });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/networkSecurityGroups',
      name: 'nsg',
      rules: [
        {
          name: 'http',
          priority: 100,
          direction: 'Inbound',
          access: 'Allow',
          protocol: 'Tcp',
          destinationPortRange: '80',
          sourceAddressPrefix: '*',
        },
      ],
    });
    await put(target, { ...base, type: 'Microsoft.Network/publicIPAddresses', name: 'pip' });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/networkInterfaces',
      name: 'nic',
      subnetId: `${id('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default`,
      publicIpId: id('Microsoft.Network/publicIPAddresses', 'pip'),
      networkSecurityGroupId: id('Microsoft.Network/networkSecurityGroups', 'nsg'),
    });
    let t = clock();
    await put(target, {
      ...base,
      type: 'Microsoft.Compute/virtualMachines',
      name: 'vm',
      size: 'Standard_B1s',
      osType: 'Linux',
      osDiskId: id('Microsoft.Compute/disks', 'os'),
      dataDisks: [],
      networkInterfaceIds: [id('Microsoft.Network/networkInterfaces', 'nic')],
      bootDiagnostics: true,
    });
    const ip = (await target.instanceView(id('Microsoft.Compute/virtualMachines', 'vm')))
      .publicIps[0]!;
    await waitFor('the VM answers', () => answers(ip), { timeoutMs: 180_000, intervalMs: 100 });
    const viaArm = since(t);
    await arm.stop({ stopVms: true }); // one guest at a time on this machine
    // Baseline: the runner boots the same image directly, no ARM, no clients.
    const runner = new QemuVmRunner({ stateDir: join(work, 'runner') });
    const direct = `127.${64 + Math.floor(Math.random() * 64)}.${Math.floor(Math.random() * 256)}.9`;
    t = clock();
    await runner.start({
      id: 'bench-direct',
      name: 'bench-direct',
      memoryMiB: 160,
      cpus: 1,
      disks: [img],
      nics: [
        {
          mac: '52:54:00:12:34:56',
          subnet: '10.70.1.0/24',
          privateIp: '10.70.1.4',
          publicIp: direct,
          tcpPorts: [80],
        },
      ],
      serialLogPath: join(work, 'serial.log'),
    });
    await waitFor('the guest answers', () => answers(direct), {
      timeoutMs: 180_000,
      intervalMs: 100,
    });
    const bare = since(t);
    await runner.stopAll();
    return row(
      'create VM → its service answers at the public IP',
      viaArm,
      'QemuVmRunner.start → answers',
      bare,
      'boot of a 32 MiB busybox server disk under TCG',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
