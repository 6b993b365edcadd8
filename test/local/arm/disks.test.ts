import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { get } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceView } from '../../../core/recovery/ports';
import { sharedStack, uniqueName } from '../../support/stack';
import {
  armFixture,
  LOCATION,
  put,
  settle,
  uploadVhd,
  type ArmFixture,
} from '../../support/armFixture';

/**
 * Managed disks and snapshots of the local ARM endpoint through the real compute client:
 * Import of a replica-shaped page blob byte-exact (only its written ranges are read), Azure's
 * Import refusals, Copy, incremental snapshots whose changed ranges are exactly what was
 * written, and read access URLs with Range.
 */
const MiB = 1024 * 1024;
let f: ArmFixture;
let storage: string;
const rg = 'rg-disks';
let storageAccountId: string;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const diskId = (name: string, type = 'disks') =>
  `${f.target.subscriptionPath}/resourceGroups/${rg}/providers/Microsoft.Compute/${type}/${name}`;
const fileOf = (name: string, type = 'disks') => {
  const state = JSON.parse(readFileSync(`${f.stateDir}/arm/state.json`, 'utf8')) as {
    resources: Record<string, { local?: { file?: string } }>;
  };
  return state.resources[diskId(name, type).toLowerCase()]!.local!.file!;
};
/** GET with the stack's CA, keeping the bytes (the pipeline's bodyAsText would decode them). */
const getBytes = (url: string, range: string) =>
  new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    get(url, { ca: readFileSync(f.arm.caCertPath), headers: { range } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
const importDisk = (name: string, sourceUri: string, accountId = storageAccountId) =>
  f.target.beginPut({
    type: 'Microsoft.Compute/disks',
    resourceGroup: rg,
    name,
    location: LOCATION,
    osType: 'Linux',
    source: { kind: 'import', sourceUri, storageAccountId: accountId },
  });

const image = Buffer.alloc(8 * MiB);
randomBytes(3 * MiB).copy(image, 1 * MiB); // data in the middle, holes around it
randomBytes(4096).copy(image, 7 * MiB);

beforeAll(async () => {
  storage = sharedStack().storageConnection;
  f = await armFixture(storage);
  storageAccountId = f.arm.storageAccountId!;
  await put(f.target, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });
});
afterAll(() => f?.close());

describe('local ARM: disks', () => {
  it('imports a fixed-VHD page blob byte-exact, footer stripped', async () => {
    const url = await uploadVhd(storage, uniqueName('c'), 'server.vhd', image);
    const o = await settle(f.target, await importDisk('imported', url));
    expect(o.status).toBe('succeeded');
    const view = (o as { resource: ResourceView }).resource;
    expect(view.properties).toMatchObject({ sizeBytes: 8 * MiB, diskState: 'Unattached' });
    expect(sha(readFileSync(fileOf('imported')))).toBe(sha(image));
  });

  it("refuses what Azure's Import refuses, as failed operations or 400s", async () => {
    const c = uniqueName('c');
    const outcome = async (name: string, uri: string, acct?: string) =>
      settle(f.target, await importDisk(name, uri, acct));
    expect(
      await outcome('no-footer', await uploadVhd(storage, c, 'raw.img', image, false)),
    ).toMatchObject({ status: 'failed', code: 'InvalidVhd' });
    const odd = Buffer.alloc(MiB + 512 * 3);
    const oddUrl = await uploadVhd(storage, c, 'odd.vhd', odd);
    expect(await outcome('odd', oddUrl)).toMatchObject({
      status: 'failed',
      code: 'BadRequest',
      message: expect.stringMatching(/whole number \(in MBs\)/),
    });
    const good = await uploadVhd(storage, c, 'good.vhd', image);
    expect(
      await outcome('snap-uri', `${good}?snapshot=2026-01-01T00:00:00.0000000Z`),
    ).toMatchObject({ status: 'failed', code: 'InvalidParameter' });
    expect(
      await outcome('other-account', good, storageAccountId.replace(/[^/]+$/, 'someoneelse')),
    ).toMatchObject({ status: 'failed', code: 'StorageAccountNotFound' });
    // Without storageAccountId the request itself is refused (raw client: the port always sends it).
    const poller = f.clients.compute.disks.createOrUpdate(rg, 'no-account', {
      location: LOCATION,
      creationData: { createOption: 'Import', sourceUri: good },
    });
    const e = (await poller.then(
      () => undefined,
      (x: unknown) => x,
    )) as { statusCode?: number; message: string };
    expect(e.statusCode).toBe(400);
    expect(e.message).toMatch(/storageAccountId/);
    // A refused Import leaves a Failed disk, as in Azure: deletable, not usable.
    expect((await f.target.get(diskId('odd')))?.provisioningState).toBe('Failed');
    expect((await settle(f.target, await f.target.beginDelete(diskId('odd')))).status).toBe(
      'succeeded',
    );
  });

  it('copies a disk; incremental snapshots report exactly the blocks written between them', async () => {
    await put(f.target, {
      type: 'Microsoft.Compute/disks',
      resourceGroup: rg,
      name: 'copy',
      location: LOCATION,
      source: { kind: 'copy', sourceResourceId: diskId('imported') },
    });
    expect(sha(readFileSync(fileOf('copy')))).toBe(sha(image));
    const snap = (name: string) =>
      put(f.target, {
        type: 'Microsoft.Compute/snapshots',
        resourceGroup: rg,
        name,
        location: LOCATION,
        sourceResourceId: diskId('copy'),
        incremental: true,
      });
    await snap('s1');
    // What a VM would write into its disk file.
    const fd = openSync(fileOf('copy'), 'r+');
    writeSync(fd, randomBytes(10_000), 0, 10_000, 5 * MiB + 100); // inside block 80
    writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, 6 * MiB); // block 96
    closeSync(fd);
    await snap('s2');
    expect(
      await f.target.changedRanges(diskId('s2', 'snapshots'), diskId('s1', 'snapshots')),
    ).toEqual([
      { offset: 5 * MiB, length: 64 * 1024 },
      { offset: 6 * MiB, length: 64 * 1024 },
    ]);
    // Without a base: every written (non-zero) block of the snapshot.
    const all = await f.target.changedRanges(diskId('s1', 'snapshots'));
    expect(all.reduce((n, r) => n + r.length, 0)).toBe(3 * MiB + 64 * 1024);
  });

  it('grants read access: the URL serves byte ranges; revoked, it serves nothing', async () => {
    const granted = await settle(
      f.target,
      await f.target.beginGrantAccess(diskId('imported'), 600),
    );
    const uri = granted.status === 'succeeded' ? granted.accessUri! : '';
    expect(uri).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    const res = await getBytes(uri, `bytes=${MiB}-${MiB + 1023}`);
    expect(res.status).toBe(206);
    expect(res.body.equals(image.subarray(MiB, MiB + 1024))).toBe(true);
    expect((await f.target.get(diskId('imported')))?.properties.diskState).toBe('ActiveSAS');
    await settle(f.target, await f.target.beginRevokeAccess(diskId('imported')));
    expect((await f.clients.sas(uri)).status).toBe(403);
  });
});
