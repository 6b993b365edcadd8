import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmRecoveryTarget } from '../../../adapters/arm/armRecoveryTarget';
import { HavenError } from '../../../core/errors';
import type { OperationHandle, ResourceSpec } from '../../../core/recovery/ports';
import { armFixture, LOCATION, put, settle, type ArmFixture } from '../../support/armFixture';
import { FakeVmRunner } from '../../support/fakeVmRunner';

/**
 * The ARM adapter (`RecoveryTarget` over the real arm-compute and arm-network clients) against
 * the local endpoint, with a VM runner that runs no guest (this is about ARM, not QEMU): every
 * begin/poll, operations started by one adapter and resumed from JSON by a fresh one (a later
 * activity in another process), failed operations as outcomes, refusals as HavenError kinds,
 * and the endpoint's state across a restart.
 */
let f: ArmFixture;
const runner = new FakeVmRunner();
const rg = 'rg-adapter';
const id = (type: string, name: string) =>
  `${f.target.subscriptionPath}/resourceGroups/${rg}/providers/${type}/${name}`;
const ids = {
  disk: () => id('Microsoft.Compute/disks', 'os'),
  data: () => id('Microsoft.Compute/disks', 'data'),
  snap: () => id('Microsoft.Compute/snapshots', 'os-snap'),
  vm: () => id('Microsoft.Compute/virtualMachines', 'vm'),
  nic: () => id('Microsoft.Network/networkInterfaces', 'nic'),
  pip: () => id('Microsoft.Network/publicIPAddresses', 'pip'),
  subnet: () => `${id('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default`,
};
const vmSpec = (over: Partial<ResourceSpec> = {}): ResourceSpec => ({
  type: 'Microsoft.Compute/virtualMachines',
  resourceGroup: rg,
  name: 'vm',
  location: LOCATION,
  size: 'Standard_B2s',
  osType: 'Linux',
  osDiskId: ids.disk(),
  dataDisks: [{ lun: 0, diskId: ids.data() }],
  networkInterfaceIds: [ids.nic()],
  bootDiagnostics: true,
  ...(over as object),
});
/** The handle as a saga's history keeps it: JSON, read back in another activity. */
const viaJson = (h: OperationHandle) => JSON.parse(JSON.stringify(h)) as OperationHandle;
const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HavenError);
  return e as HavenError;
};

beforeAll(async () => {
  f = await armFixture(undefined, { vmRunner: runner });
  await put(f.target, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });
  for (const name of ['os', 'data'])
    await put(f.target, {
      type: 'Microsoft.Compute/disks',
      resourceGroup: rg,
      name,
      location: LOCATION,
      source: { kind: 'empty', sizeGiB: 1 },
    });
  await put(f.target, {
    type: 'Microsoft.Network/virtualNetworks',
    resourceGroup: rg,
    name: 'vnet',
    location: LOCATION,
    addressPrefixes: ['10.50.0.0/16'],
    subnets: [{ name: 'default', addressPrefix: '10.50.1.0/24' }],
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
    subnetId: ids.subnet(),
    publicIpId: ids.pip(),
  });
});
afterAll(() => f?.close());

describe('ARM adapter: operations', () => {
  it('creates a VM and runs every power action to its end; the instance view follows', async () => {
    const created = await settle(f.target, await f.target.beginPut(vmSpec()));
    expect(created).toMatchObject({
      status: 'succeeded',
      resource: {
        provisioningState: 'Succeeded',
        properties: {
          size: 'Standard_B2s',
          osDiskId: ids.disk(),
          dataDisks: [{ lun: 0, diskId: ids.data() }],
          networkInterfaceIds: [ids.nic()],
        },
      },
    });
    const launched = runner.started.at(-1)!;
    expect(launched.disks).toHaveLength(2);
    expect(launched.nics[0]).toMatchObject({ privateIp: '10.50.1.4', subnet: '10.50.1.0/24' });
    expect(launched.nics[0]!.tcpPorts).toEqual([]); // a Standard public IP with no NSG is closed
    const view = await f.target.instanceView(ids.vm());
    expect(view).toMatchObject({ powerState: 'running', privateIps: ['10.50.1.4'] });
    expect(view.publicIps[0]).toMatch(/^127\./);
    const act = async (action: 'start' | 'powerOff' | 'deallocate' | 'restart') => {
      const o = await settle(
        f.freshTarget(),
        viaJson(await f.target.beginVmAction(ids.vm(), action)),
      );
      expect(o.status).toBe('succeeded');
      return (await f.target.instanceView(ids.vm())).powerState;
    };
    expect(await act('powerOff')).toBe('stopped');
    expect(runner.stops.at(-1)).toEqual({ id: ids.vm(), graceful: true }); // skipShutdown=false
    expect(await act('start')).toBe('running');
    expect(await act('deallocate')).toBe('deallocated');
    expect(await act('restart')).toBe('running');
    expect(await f.target.bootDiagnostics(ids.vm())).toBe(''); // no guest wrote a console here
  });

  it('an operation still running is polled to its end by a fresh adapter from its JSON handle', async () => {
    // Each is polled right after it starts (a loaded machine must not let the delay run out
    // between starting all three and polling the first).
    const delayMs = 3000;
    await f.admin.fault({ match: 'PUT snapshots', mode: 'slow', delayMs });
    await f.admin.fault({ match: 'POST virtualMachines/powerOff', mode: 'slow', delayMs });
    await f.admin.fault({ match: 'PUT networkSecurityGroups', mode: 'slow', delayMs });
    const begins = [
      () =>
        f.target.beginPut({
          type: 'Microsoft.Compute/snapshots',
          resourceGroup: rg,
          name: 'os-snap',
          location: LOCATION,
          sourceResourceId: ids.disk(),
          incremental: true,
        }),
      () => f.target.beginVmAction(ids.vm(), 'powerOff'),
      () =>
        f.target.beginPut({
          type: 'Microsoft.Network/networkSecurityGroups',
          resourceGroup: rg,
          name: 'nsg-slow',
          location: LOCATION,
          rules: [],
        }),
    ];
    const started = [];
    for (const begin of begins) {
      const h = viaJson(await begin());
      expect(await f.freshTarget().poll(h)).toEqual({ status: 'running' });
      started.push(h);
    }
    const ended = await Promise.all(started.map((h) => settle(f.freshTarget(), h)));
    expect(ended.map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(ended[0]).toMatchObject({
      resource: { properties: { incremental: true, sourceResourceId: ids.disk() } },
    });
    expect((await f.target.instanceView(ids.vm())).powerState).toBe('stopped');
    await f.admin.clear();
  });

  it('grants and revokes access through handles resumed elsewhere', async () => {
    const granted = await settle(
      f.freshTarget(),
      viaJson(await f.target.beginGrantAccess(ids.snap(), 300)),
    );
    const uri = granted.status === 'succeeded' ? granted.accessUri! : '';
    expect(uri.startsWith(f.arm.endpoint)).toBe(true);
    expect((await f.clients.sas(uri, { range: 'bytes=0-511' })).status).toBe(206);
    const revoked = await settle(
      f.freshTarget(),
      viaJson(await f.target.beginRevokeAccess(ids.snap())),
    );
    expect(revoked.status).toBe('succeeded');
    expect((await f.clients.sas(uri)).status).toBe(403);
  });

  it('a failed operation is an outcome with the code Azure sent; the resource is left Failed', async () => {
    await f.admin.fault({
      match: 'PUT disks',
      mode: 'lro',
      code: 'AllocationFailed',
      message: 'No capacity.',
    });
    const o = await settle(
      f.freshTarget(),
      viaJson(
        await f.target.beginPut({
          type: 'Microsoft.Compute/disks',
          resourceGroup: rg,
          name: 'unlucky',
          location: LOCATION,
          source: { kind: 'empty', sizeGiB: 1 },
        }),
      ),
    );
    expect(o).toEqual({
      status: 'failed',
      code: 'AllocationFailed',
      message: 'No capacity.',
      retryable: true,
    });
    await f.admin.clear();
  });
});

describe('ARM adapter: refusals as HavenError kinds (Azure code in details)', () => {
  it('not-found, conflict, validation', async () => {
    const missing = await refusal(
      f.target.beginVmAction(id('Microsoft.Compute/virtualMachines', 'ghost'), 'start'),
    );
    expect([missing.kind, missing.details?.code]).toEqual(['not-found', 'ResourceNotFound']);
    expect(await f.target.get(id('Microsoft.Compute/disks', 'ghost'))).toBeUndefined();
    expect(await f.target.list('no-such-group')).toEqual([]);
    const attached = await refusal(f.target.beginDelete(ids.disk()));
    expect([attached.kind, attached.details?.code]).toEqual(['conflict', 'OperationNotAllowed']);
    const size = await refusal(
      f.target.beginPut(vmSpec({ name: 'big', size: 'Standard_Huge' } as Partial<ResourceSpec>)),
    );
    expect([size.kind, size.details?.code]).toEqual(['validation', 'InvalidParameter']);
    // Deleting what does not exist succeeds (idempotent compensation).
    expect(
      (await settle(f.target, await f.target.beginDelete(ids.pip().replace(/pip$/, 'none'))))
        .status,
    ).toBe('succeeded');
  });

  it('unauthenticated with a wrong token; transient on throttling', async () => {
    const wrong = new ArmRecoveryTarget({
      endpoint: f.arm.endpoint,
      subscriptionId: f.arm.subscriptionId,
      credential: 'static-token',
      token: 'not-the-token',
      caCert: f.arm.caCertPath,
    });
    const e = await refusal(wrong.get(ids.vm()));
    expect([e.kind, e.details?.code]).toEqual(['unauthenticated', 'InvalidAuthenticationToken']);
    // 429 without Retry-After is not retried by the pipeline: the caller backs off.
    await f.admin.fault({
      match: 'GET virtualMachines',
      mode: 'http',
      status: 429,
      code: 'TooManyRequests',
    });
    const busy = await refusal(f.target.get(ids.vm()));
    expect([busy.kind, busy.retryable, busy.details?.code]).toEqual([
      'transient',
      true,
      'TooManyRequests',
    ]);
    await f.admin.clear();
  });
});

describe('ARM adapter: the endpoint restarts', () => {
  it('keeps every resource, public addresses and attachments; the VM runs again', async () => {
    const before = (await f.target.list(rg)).map((r) => [r.id, r.provisioningState]).sort();
    const pip = (await f.target.get(ids.pip()))?.properties.ipAddress;
    await settle(f.target, await f.target.beginVmAction(ids.vm(), 'start'));
    await f.restart();
    expect((await f.target.list(rg)).map((r) => [r.id, r.provisioningState]).sort()).toEqual(
      before,
    );
    expect((await f.target.get(ids.pip()))?.properties.ipAddress).toBe(pip);
    expect((await f.target.get(ids.disk()))?.properties).toMatchObject({
      diskState: 'Attached',
      managedBy: ids.vm(),
    });
    expect((await f.target.instanceView(ids.vm())).powerState).toBe('running');
    // A new dynamic NIC does not get an address already handed out before the restart.
    const nic2 = await put(f.target, {
      type: 'Microsoft.Network/networkInterfaces',
      resourceGroup: rg,
      name: 'nic2',
      location: LOCATION,
      subnetId: ids.subnet(),
    });
    expect(nic2.status === 'succeeded' && nic2.resource?.properties.privateIp).toBe('10.50.1.5');
  });
});
