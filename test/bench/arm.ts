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
import { startAzurite } from '../../local/stack/azurite';
import { platformStatus } from '../../local/vm/platform';
import { put } from '../support/armFixture';
import { timeVmBoot } from './armVm';
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
    if (platformStatus().ready) {
      const boot = await timeVmBoot(target, azurite.connectionString, arm, id);
      rows.push(
        row(
          'create VM → its service answers at the public IP',
          boot.viaArm,
          'QemuVmRunner.start → answers',
          boot.direct,
          'boot of a 32 MiB busybox server disk under TCG',
        ),
      );
    } else console.error('bench: arm: VM platform not ready (npm run setup): VM row skipped');
  } finally {
    await arm.stop({ stopVms: true });
    await azurite.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
