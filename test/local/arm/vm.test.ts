import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HavenError } from '../../../core/errors';
import { makeBootableServerImage, SERVER_READY_MARKER } from '../../../local/images/bootableServer';
import { stopLocalArmVms } from '../../../local/arm/localArm';
import { preparePlatform } from '../../../local/vm/platform';
import { QemuVmRunner } from '../../../local/vm/qemuRunner';
import { sharedStack, uniqueName } from '../../support/stack';
import { waitFor } from '../../support/waitFor';
import {
  armFixture,
  HTTP_FROM_ANYWHERE,
  LOCATION,
  put,
  settle,
  uploadVhd,
  type ArmFixture,
} from '../../support/armFixture';

/**
 * End to end through the real clients: a bootable server disk as a replica-shaped page blob →
 * managed disk (Import) → NSG, public IP, NIC → VM: a real QEMU guest boots it and its web
 * service answers at the public IP with the disk's data; boot diagnostics are its console; it
 * survives a restart of the endpoint; ARM's refusals around attached resources hold.
 */
let f: ArmFixture;
const rg = 'rg-vm';
const work = mkdtempSync(join(tmpdir(), 'haven-armvm-'));
let ids: Record<'disk' | 'nic' | 'vm' | 'pip' | 'nsg' | 'vnet', string>;

async function answer(ip: string, path: string): Promise<string | undefined> {
  try {
    const r = await fetch(`http://${ip}${path}`, { signal: AbortSignal.timeout(2_000) });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  await preparePlatform();
  const storage = sharedStack().storageConnection;
  f = await armFixture(storage);
  const sub = f.target.subscriptionPath;
  const id = (t: string, n: string) => `${sub}/resourceGroups/${rg}/providers/${t}/${n}`;
  ids = {
    disk: id('Microsoft.Compute/disks', 'osdisk'),
    nic: id('Microsoft.Network/networkInterfaces', 'nic'),
    vm: id('Microsoft.Compute/virtualMachines', 'web'),
    pip: id('Microsoft.Network/publicIPAddresses', 'pip'),
    nsg: id('Microsoft.Network/networkSecurityGroups', 'nsg'),
    vnet: id('Microsoft.Network/virtualNetworks', 'vnet'),
  };
  const img = join(work, 'server.img');
  makeBootableServerImage(img, {
    sizeBytes: 24 * 1024 * 1024,
    hostname: 'web',
    files: { 'a.txt': 'from the replica\n' },
  });
  const url = await uploadVhd(storage, uniqueName('replicas'), 'web.vhd', readFileSync(img));
  await put(f.target, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });
  await put(f.target, {
    type: 'Microsoft.Compute/disks',
    resourceGroup: rg,
    name: 'osdisk',
    location: LOCATION,
    osType: 'Linux',
    source: { kind: 'import', sourceUri: url, storageAccountId: f.arm.storageAccountId! },
  });
  await put(f.target, {
    type: 'Microsoft.Network/virtualNetworks',
    resourceGroup: rg,
    name: 'vnet',
    location: LOCATION,
    addressPrefixes: ['10.40.0.0/16'],
    subnets: [{ name: 'default', addressPrefix: '10.40.1.0/24' }],
  });
  await put(f.target, {
    type: 'Microsoft.Network/networkSecurityGroups',
    resourceGroup: rg,
    name: 'nsg',
    location: LOCATION,
    // The 'Internet' service tag where the other tests say '*'.
    rules: [{ ...HTTP_FROM_ANYWHERE, sourceAddressPrefix: 'Internet' }],
  });
  await put(f.target, {
    type: 'Microsoft.Network/publicIPAddresses',
    resourceGroup: rg,
    name: 'pip',
    location: LOCATION,
  });
  await put(f.target, {
    type: 'Microsoft.Network/networkInterfaces',
    resourceGroup: rg,
    name: 'nic',
    location: LOCATION,
    subnetId: `${ids.vnet}/subnets/default`,
    privateIp: '10.40.1.10',
    publicIpId: ids.pip,
    networkSecurityGroupId: ids.nsg,
  });
}, 180_000);

afterAll(async () => {
  await f?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('local ARM: virtual machines', () => {
  it('a VM boots the imported disk: its service answers at the public IP with the disk data', async () => {
    const o = await settle(
      f.target,
      await f.target.beginPut({
        type: 'Microsoft.Compute/virtualMachines',
        resourceGroup: rg,
        name: 'web',
        location: LOCATION,
        size: 'Standard_B1s',
        osType: 'Linux',
        osDiskId: ids.disk,
        dataDisks: [],
        networkInterfaceIds: [ids.nic],
        bootDiagnostics: true,
      }),
    );
    expect(o.status).toBe('succeeded');
    const view = await f.target.instanceView(ids.vm);
    expect(view).toMatchObject({ powerState: 'running', privateIps: ['10.40.1.10'] });
    const ip = view.publicIps[0]!;
    expect(
      await waitFor('the VM serves its data', () => answer(ip, '/data/a.txt'), {
        timeoutMs: 90_000,
        intervalMs: 250,
      }),
    ).toBe('from the replica\n');
    expect(await answer(ip, '/cgi-bin/info')).toContain('ip=10.40.1.10');
    expect(await f.target.bootDiagnostics(ids.vm)).toContain(SERVER_READY_MARKER);
    expect((await f.target.get(ids.disk))?.properties).toMatchObject({
      diskState: 'Attached',
      managedBy: ids.vm,
    });
  }, 120_000);

  it('refuses to delete what the VM uses (disk 409, NIC 400)', async () => {
    const disk = (await f.target.beginDelete(ids.disk).catch((e: unknown) => e)) as HavenError;
    expect([disk.kind, disk.details?.code]).toEqual(['conflict', 'OperationNotAllowed']);
    const nic = (await f.target.beginDelete(ids.nic).catch((e: unknown) => e)) as HavenError;
    expect(nic.details?.code).toBe('NicInUse');
  });

  it('the VM survives a restart of the endpoint (adopted, still serving); power off stops it', async () => {
    await f.restart();
    const view = await f.target.instanceView(ids.vm);
    expect(view.powerState).toBe('running');
    expect(await answer(view.publicIps[0]!, '/health')).toBe('ok\n');
    expect((await settle(f.target, await f.target.beginVmAction(ids.vm, 'powerOff'))).status).toBe(
      'succeeded',
    );
    expect((await f.target.instanceView(ids.vm)).powerState).toBe('stopped');
    expect(await answer(view.publicIps[0]!, '/health')).toBeUndefined();
  }, 60_000);

  it('start boots it again; guests outlive a stopped endpoint until stopLocalArmVms; a restart starts them again', async () => {
    expect((await settle(f.target, await f.target.beginVmAction(ids.vm, 'start'))).status).toBe(
      'succeeded',
    );
    const ip = (await f.target.instanceView(ids.vm)).publicIps[0]!;
    const healthy = () =>
      waitFor('the VM answers', () => answer(ip, '/health'), { timeoutMs: 90_000 });
    expect(await healthy()).toBe('ok\n');
    await f.arm.stop(); // a persistent stack's stop: Azure VMs outlive their control plane
    expect(await answer(ip, '/health')).toBe('ok\n');
    await stopLocalArmVms(f.stateDir); // what wiping the state does first
    expect(f.arm.vmRunner.state(ids.vm)).toBe('stopped');
    expect(await answer(ip, '/health')).toBeUndefined();
    await f.restart(); // the VM should run: restarted, never forgotten
    expect((await f.target.instanceView(ids.vm)).powerState).toBe('running');
    expect(await healthy()).toBe('ok\n');
  }, 150_000);

  it('deleting the VM frees its disk and NIC; a group delete removes everything', async () => {
    expect((await settle(f.target, await f.target.beginDelete(ids.vm))).status).toBe('succeeded');
    expect((await f.target.get(ids.disk))?.properties.diskState).toBe('Unattached');
    expect((await settle(f.target, await f.target.beginDelete(ids.nic))).status).toBe('succeeded');
    const group = `${f.target.subscriptionPath}/resourceGroups/${rg}`;
    expect((await settle(f.target, await f.target.beginDelete(group))).status).toBe('succeeded');
    expect(await f.target.list(rg)).toEqual([]);
  }, 30_000);

  it('a host without the VM platform fails the create with VMPlatformUnavailable, never a fake running', async () => {
    const empty = mkdtempSync(join(work, 'no-platform-'));
    const runner = new QemuVmRunner({ stateDir: join(empty, 'runner'), platformDir: empty });
    const bare = await armFixture(sharedStack().storageConnection, { vmRunner: runner });
    try {
      const t = bare.target;
      const sub = t.subscriptionPath;
      const id = (ty: string, n: string) => `${sub}/resourceGroups/g/providers/${ty}/${n}`;
      await put(t, { type: 'Microsoft.Resources/resourceGroups', name: 'g', location: LOCATION });
      await put(t, {
        type: 'Microsoft.Compute/disks',
        resourceGroup: 'g',
        name: 'd',
        location: LOCATION,
        source: { kind: 'empty', sizeGiB: 1 },
      });
      await put(t, {
        type: 'Microsoft.Network/virtualNetworks',
        resourceGroup: 'g',
        name: 'v',
        location: LOCATION,
        addressPrefixes: ['10.1.0.0/16'],
        subnets: [{ name: 's', addressPrefix: '10.1.0.0/24' }],
      });
      await put(t, {
        type: 'Microsoft.Network/networkInterfaces',
        resourceGroup: 'g',
        name: 'n',
        location: LOCATION,
        subnetId: `${id('Microsoft.Network/virtualNetworks', 'v')}/subnets/s`,
      });
      const o = await settle(
        t,
        await t.beginPut({
          type: 'Microsoft.Compute/virtualMachines',
          resourceGroup: 'g',
          name: 'vm',
          location: LOCATION,
          size: 'Standard_B1s',
          osType: 'Linux',
          osDiskId: id('Microsoft.Compute/disks', 'd'),
          dataDisks: [],
          networkInterfaceIds: [id('Microsoft.Network/networkInterfaces', 'n')],
          bootDiagnostics: true,
        }),
      );
      expect(o).toMatchObject({
        status: 'failed',
        code: 'VMPlatformUnavailable',
        message: expect.stringMatching(/npm run setup/),
      });
      expect((await t.instanceView(id('Microsoft.Compute/virtualMachines', 'vm'))).powerState).toBe(
        'stopped',
      );
    } finally {
      await bare.close();
    }
  }, 60_000);
});
