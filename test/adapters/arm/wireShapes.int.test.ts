import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArmCall } from '../../support/armAdmin';
import { armFixture, LOCATION, put, settle, type ArmFixture } from '../../support/armFixture';
import { FakeVmRunner } from '../../support/fakeVmRunner';

/**
 * What the ARM adapter makes the real clients send, recorded at the local endpoint, against
 * the wire shapes observed from arm-compute 24.1.0 and arm-network 36.0.0 (paths, api-versions,
 * query flags, bodies with the models' fields moved under `properties`). Those are the shapes
 * management.azure.com takes, so the same adapter works against Azure; and the endpoint answers
 * a first PUT 201 and a repeated one 200 (idempotent PUT).
 */
let f: ArmFixture;
let calls: ArmCall[];
let sub: string;
const rg = 'rg-wire';
const id = (type: string, name: string) => `${sub}/resourceGroups/${rg}/providers/${type}/${name}`;
const IMPORT_SOURCE = 'https://127.0.0.1:10000/devstoreaccount1/replicas/m1/sda/g1.vhd';
const STORAGE =
  '/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/haven/providers/Microsoft.Storage/storageAccounts/replicas';

/** The recorded calls to `method` on a path ending with `suffix` (below the resource group). */
const sent = (method: string, suffix: string) =>
  calls.filter((c) => c.method === method && c.path === `${sub}/resourceGroups/${rg}${suffix}`);
const one = (method: string, suffix: string) => {
  const found = sent(method, suffix);
  expect(found.length, `${method} ${suffix}`).toBeGreaterThan(0);
  return found[0]!;
};

beforeAll(async () => {
  f = await armFixture(undefined, { vmRunner: new FakeVmRunner() });
  sub = f.target.subscriptionPath;
  const t = f.target;
  await put(t, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });
  // Import without a storage account behind the endpoint fails as an operation: its request
  // is what matters here (disks.test.ts imports for real).
  await settle(
    t,
    await t.beginPut({
      type: 'Microsoft.Compute/disks',
      resourceGroup: rg,
      name: 'imported',
      location: LOCATION,
      osType: 'Linux',
      hyperVGeneration: 'V2',
      sku: 'Premium_LRS',
      source: { kind: 'import', sourceUri: IMPORT_SOURCE, storageAccountId: STORAGE },
    }),
  );
  const empty = {
    type: 'Microsoft.Compute/disks' as const,
    resourceGroup: rg,
    name: 'os',
    location: LOCATION,
    source: { kind: 'empty' as const, sizeGiB: 1 },
  };
  await put(t, empty);
  await put(t, empty); // the same PUT again: 200
  await put(t, {
    type: 'Microsoft.Compute/snapshots',
    resourceGroup: rg,
    name: 'snap',
    location: LOCATION,
    sourceResourceId: id('Microsoft.Compute/disks', 'os'),
    incremental: true,
  });
  await put(t, {
    type: 'Microsoft.Compute/disks',
    resourceGroup: rg,
    name: 'restored',
    location: LOCATION,
    source: { kind: 'copy', sourceResourceId: id('Microsoft.Compute/snapshots', 'snap') },
  });
  const vnet = {
    type: 'Microsoft.Network/virtualNetworks' as const,
    resourceGroup: rg,
    name: 'vnet',
    location: LOCATION,
    addressPrefixes: ['10.60.0.0/16'],
    subnets: [{ name: 'default', addressPrefix: '10.60.1.0/24' }],
  };
  await put(t, vnet);
  await put(t, vnet);
  await put(t, {
    type: 'Microsoft.Network/networkInterfaces',
    resourceGroup: rg,
    name: 'nic',
    location: LOCATION,
    subnetId: `${id('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default`,
    privateIp: '10.60.1.10',
  });
  await put(t, {
    type: 'Microsoft.Compute/virtualMachines',
    resourceGroup: rg,
    name: 'vm',
    location: LOCATION,
    size: 'Standard_B2s',
    osType: 'Linux',
    osDiskId: id('Microsoft.Compute/disks', 'restored'),
    dataDisks: [],
    networkInterfaceIds: [id('Microsoft.Network/networkInterfaces', 'nic')],
    bootDiagnostics: true,
  });
  const vmId = id('Microsoft.Compute/virtualMachines', 'vm');
  await settle(t, await t.beginVmAction(vmId, 'powerOff'));
  await t.instanceView(vmId);
  await t.bootDiagnostics(vmId);
  await settle(t, await t.beginGrantAccess(id('Microsoft.Compute/snapshots', 'snap'), 600));
  await settle(t, await t.beginDelete(vmId));
  calls = await f.admin.calls();
});
afterAll(() => f?.close());

describe('ARM wire shapes (as observed from the pinned clients)', () => {
  it('managed disks: Import, Empty, Copy of a snapshot; incremental snapshot (compute 2025-01-02)', () => {
    const imp = one('PUT', '/providers/Microsoft.Compute/disks/imported');
    expect(imp.query).toBe('?api-version=2025-01-02');
    expect(imp.body).toEqual({
      location: LOCATION,
      tags: {},
      sku: { name: 'Premium_LRS' },
      properties: {
        osType: 'Linux',
        hyperVGeneration: 'V2',
        creationData: {
          createOption: 'Import',
          storageAccountId: STORAGE,
          sourceUri: IMPORT_SOURCE,
        },
      },
    });
    expect(one('PUT', '/providers/Microsoft.Compute/disks/os').body).toMatchObject({
      properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 },
    });
    const copy = one('PUT', '/providers/Microsoft.Compute/disks/restored');
    expect((copy.body as { properties: unknown }).properties).toEqual({
      creationData: {
        createOption: 'Copy',
        sourceResourceId: id('Microsoft.Compute/snapshots', 'snap'),
      },
    });
    const snap = one('PUT', '/providers/Microsoft.Compute/snapshots/snap');
    expect(snap.query).toBe('?api-version=2025-01-02');
    expect((snap.body as { properties: unknown }).properties).toEqual({
      creationData: { createOption: 'Copy', sourceResourceId: id('Microsoft.Compute/disks', 'os') },
      incremental: true,
    });
    const grant = one('POST', '/providers/Microsoft.Compute/snapshots/snap/beginGetAccess');
    expect(grant.body).toEqual({ access: 'Read', durationInSeconds: 600 });
  });

  it('virtual machines: create with attached disks and NICs, powerOff, force delete (2026-03-01)', () => {
    const vm = one('PUT', '/providers/Microsoft.Compute/virtualMachines/vm');
    expect(vm.query).toBe('?api-version=2026-03-01');
    expect(vm.body).toEqual({
      location: LOCATION,
      tags: {},
      properties: {
        hardwareProfile: { vmSize: 'Standard_B2s' },
        storageProfile: {
          osDisk: {
            osType: 'Linux',
            createOption: 'Attach',
            managedDisk: { id: id('Microsoft.Compute/disks', 'restored') },
          },
          dataDisks: [],
        },
        networkProfile: {
          networkInterfaces: [
            {
              id: id('Microsoft.Network/networkInterfaces', 'nic'),
              properties: { primary: true },
            },
          ],
        },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
    });
    const off = one('POST', '/providers/Microsoft.Compute/virtualMachines/vm/powerOff');
    expect([off.query, off.body]).toEqual([
      '?api-version=2026-03-01&skipShutdown=false',
      undefined,
    ]);
    const del = one('DELETE', '/providers/Microsoft.Compute/virtualMachines/vm');
    expect(del.query).toBe('?api-version=2026-03-01&forceDeletion=true');
    expect(one('GET', '/providers/Microsoft.Compute/virtualMachines/vm/instanceView').query).toBe(
      '?api-version=2026-03-01',
    );
    expect(
      one('POST', '/providers/Microsoft.Compute/virtualMachines/vm/retrieveBootDiagnosticsData')
        .status,
    ).toBe(200);
  });

  it('networks: vnet with inline subnets, NIC whose subnet reference carries empty properties (2025-05-01)', () => {
    const vnet = one('PUT', '/providers/Microsoft.Network/virtualNetworks/vnet');
    expect(vnet.query).toBe('?api-version=2025-05-01');
    expect(vnet.body).toEqual({
      location: LOCATION,
      tags: {},
      properties: {
        addressSpace: { addressPrefixes: ['10.60.0.0/16'] },
        subnets: [{ name: 'default', properties: { addressPrefix: '10.60.1.0/24' } }],
      },
    });
    const nic = one('PUT', '/providers/Microsoft.Network/networkInterfaces/nic');
    expect(nic.body).toEqual({
      location: LOCATION,
      tags: {},
      properties: {
        ipConfigurations: [
          {
            name: 'ipconfig1',
            properties: {
              privateIPAllocationMethod: 'Static',
              privateIPAddress: '10.60.1.10',
              subnet: {
                id: `${id('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default`,
                properties: {},
              },
              primary: true,
            },
          },
        ],
      },
    });
  });

  it('every ARM call carries an api-version the endpoint serves; a repeated PUT is 200', () => {
    const arm = calls.filter((c) => !c.path.startsWith('/haven/'));
    expect(arm.every((c) => /^\?api-version=\d{4}-\d{2}-\d{2}(&|$)/.test(c.query))).toBe(true);
    expect(arm.every((c) => c.status !== undefined && c.status < 400)).toBe(true);
    expect(sent('PUT', '/providers/Microsoft.Compute/disks/os').map((c) => c.status)).toEqual([
      201, 200,
    ]);
    expect(
      sent('PUT', '/providers/Microsoft.Network/virtualNetworks/vnet').map((c) => c.status),
    ).toEqual([201, 200]);
    expect(calls.find((c) => c.path === `${sub}/resourceGroups/${rg}`)).toMatchObject({
      method: 'PUT',
      query: '?api-version=2021-04-01',
      status: 201,
      body: { location: LOCATION, tags: {} },
    });
  });
});
