import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HavenError } from '../../../core/errors';
import { sharedStack } from '../../support/stack';
import {
  armFixture,
  HTTP_FROM_ANYWHERE,
  LOCATION,
  put,
  settle,
  type ArmFixture,
} from '../../support/armFixture';

/**
 * The local ARM endpoint through the real clients (the ARM adapter over arm-network and plain
 * pipeline requests): authentication, resource groups, networks, ARM's refusals with Azure's
 * codes, long-running operations resumed in a fresh adapter, fault injection, wire shapes.
 */
let f: ArmFixture;
const rg = 'rg-net';
let sub: string;
const net = (type: string, name: string) =>
  `${sub}/resourceGroups/${rg}/providers/Microsoft.Network/${type}/${name}`;
const failure = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HavenError);
  return e as HavenError;
};

beforeAll(async () => {
  f = await armFixture(sharedStack().storageConnection);
  sub = f.target.subscriptionPath;
});
afterAll(() => f?.close());

describe('local ARM: authentication and resource groups', () => {
  it('refuses a request without or with a wrong bearer token (401)', async () => {
    const url = `${f.arm.endpoint}${sub}/resourceGroups/x?api-version=2021-04-01`;
    const bare = await f.clients.sas(url);
    expect(bare.status).toBe(401);
    expect(JSON.parse(bare.bodyAsText!).error.code).toBe('AuthenticationFailed');
    const wrong = await f.clients.sas(url, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.bodyAsText!).error.code).toBe('InvalidAuthenticationToken');
  });

  it('PUT of a group is 201 then 200; an unknown api-version or subscription is refused', async () => {
    const url = `${f.arm.endpoint}${sub}/resourceGroups/${rg}?api-version=2021-04-01`;
    expect((await f.clients.rest('PUT', url, { location: LOCATION })).status).toBe(201);
    expect(
      (await f.clients.rest('PUT', url, { location: LOCATION, tags: { a: 'b' } })).status,
    ).toBe(200);
    const code = async (u: string) => {
      const res = await f.clients.rest('GET', u);
      return [res.status, JSON.parse(res.bodyAsText!).error.code];
    };
    // ARM answers for groups itself; for a provider's types, the provider's registration does.
    expect(await code(url.replace('2021-04-01', '1999-01-01'))).toEqual([
      400,
      'InvalidApiVersionParameter',
    ]);
    const nsgs = `${f.arm.endpoint}${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups`;
    expect(await code(`${nsgs}?api-version=2019-01-01`)).toEqual([
      400,
      'NoRegisteredProviderFound',
    ]);
    expect(
      await code(url.replace(sub, '/subscriptions/00000000-0000-0000-0000-000000000000')),
    ).toEqual([404, 'SubscriptionNotFound']);
  });

  it('a resource in a missing group is ResourceGroupNotFound (not-found)', async () => {
    const e = await failure(
      f.target.beginPut({
        type: 'Microsoft.Network/networkSecurityGroups',
        resourceGroup: 'nope',
        name: 'n',
        location: LOCATION,
        rules: [],
      }),
    );
    expect(e.kind).toBe('not-found');
    expect(e.details?.code).toBe('ResourceGroupNotFound');
  });
});

describe('local ARM: networks', () => {
  it('vnet, subnet, NSG, public IP and NIC; static and dynamic addresses; list and get', async () => {
    await put(f.target, {
      type: 'Microsoft.Network/virtualNetworks',
      resourceGroup: rg,
      name: 'vnet',
      location: LOCATION,
      addressPrefixes: ['10.30.0.0/16'],
      subnets: [{ name: 'default', addressPrefix: '10.30.1.0/24' }],
    });
    await put(f.target, {
      type: 'Microsoft.Network/virtualNetworks/subnets',
      resourceGroup: rg,
      virtualNetwork: 'vnet',
      name: 'second',
      addressPrefix: '10.30.2.0/24',
    });
    await put(f.target, {
      type: 'Microsoft.Network/networkSecurityGroups',
      resourceGroup: rg,
      name: 'nsg',
      location: LOCATION,
      rules: [HTTP_FROM_ANYWHERE],
    });
    const pip = await put(f.target, {
      type: 'Microsoft.Network/publicIPAddresses',
      resourceGroup: rg,
      name: 'pip',
      location: LOCATION,
    });
    expect(pip.status === 'succeeded' && String(pip.resource?.properties.ipAddress)).toMatch(
      /^127\.\d+\.\d+\.\d+$/,
    );
    const subnet = `${net('virtualNetworks', 'vnet')}/subnets/default`;
    const fixed = await put(f.target, {
      type: 'Microsoft.Network/networkInterfaces',
      resourceGroup: rg,
      name: 'nic-static',
      location: LOCATION,
      subnetId: subnet,
      privateIp: '10.30.1.20',
      publicIpId: net('publicIPAddresses', 'pip'),
      networkSecurityGroupId: net('networkSecurityGroups', 'nsg'),
    });
    expect(fixed.status === 'succeeded' && fixed.resource?.properties.privateIp).toBe('10.30.1.20');
    const dyn = await put(f.target, {
      type: 'Microsoft.Network/networkInterfaces',
      resourceGroup: rg,
      name: 'nic-dynamic',
      location: LOCATION,
      subnetId: subnet,
    });
    expect(dyn.status === 'succeeded' && dyn.resource?.properties.privateIp).toBe('10.30.1.4');
    const again = await put(f.target, {
      type: 'Microsoft.Network/networkInterfaces',
      resourceGroup: rg,
      name: 'nic-dynamic',
      location: LOCATION,
      subnetId: subnet,
    });
    expect(again.status === 'succeeded' && again.resource?.properties.privateIp).toBe('10.30.1.4'); // idempotent PUT keeps its address
    const names = (await f.target.list(rg)).map((r) => r.name).sort();
    expect(names).toEqual(['default', 'nic-dynamic', 'nic-static', 'nsg', 'pip', 'second', 'vnet']);
    expect((await f.target.get(subnet))?.properties.addressPrefix).toBe('10.30.1.0/24');
    expect(await f.target.get(net('networkInterfaces', 'missing'))).toBeUndefined();
  });

  it("refuses what Azure refuses, with Azure's codes", async () => {
    const subnet = `${net('virtualNetworks', 'vnet')}/subnets/default`;
    const nic = (name: string, privateIp: string) =>
      f.target.beginPut({
        type: 'Microsoft.Network/networkInterfaces',
        resourceGroup: rg,
        name,
        location: LOCATION,
        subnetId: subnet,
        privateIp,
      });
    expect((await failure(nic('n1', '10.99.0.5'))).details?.code).toBe(
      'PrivateIPAddressNotInSubnet',
    );
    expect((await failure(nic('n2', '10.30.1.20'))).details?.code).toBe('PrivateIPAddressInUse');
    expect((await failure(nic('n3', '10.30.1.1'))).details?.code).toBe(
      'PrivateIPAddressIsReserved',
    );
    const inUse = await failure(f.target.beginDelete(subnet));
    expect([inUse.kind, inUse.details?.code]).toEqual(['validation', 'InUseSubnetCannotBeDeleted']);
    expect(
      (await failure(f.target.beginDelete(net('publicIPAddresses', 'pip')))).details?.code,
    ).toBe('PublicIPAddressCannotBeDeleted');
    expect(
      (await failure(f.target.beginDelete(net('networkSecurityGroups', 'nsg')))).details?.code,
    ).toBe('InUseNetworkSecurityGroupCannotBeDeleted');
    const outside = await failure(
      f.target.beginPut({
        type: 'Microsoft.Network/virtualNetworks/subnets',
        resourceGroup: rg,
        virtualNetwork: 'vnet',
        name: 'far',
        addressPrefix: '10.99.0.0/24',
      }),
    );
    expect(outside.details?.code).toBe('NetcfgSubnetRangeOutsideVnet');
  });

  it('an operation started by one adapter is polled to its end by a fresh one (a later activity)', async () => {
    const handle = await f.target.beginPut({
      type: 'Microsoft.Network/networkSecurityGroups',
      resourceGroup: rg,
      name: 'nsg-resumed',
      location: LOCATION,
      rules: [],
    });
    const json = JSON.parse(JSON.stringify(handle)) as typeof handle;
    const outcome = await settle(f.freshTarget(), json);
    expect(outcome.status).toBe('succeeded');
    const del = await settle(
      f.freshTarget(),
      JSON.parse(
        JSON.stringify(await f.target.beginDelete(net('networkSecurityGroups', 'nsg-resumed'))),
      ),
    );
    expect(del.status).toBe('succeeded');
    expect(await f.target.get(net('networkSecurityGroups', 'nsg-resumed'))).toBeUndefined();
  });

  it('faults: the nth call fails at once, or its operation fails; calls are recorded with their bodies', async () => {
    f.arm.faults.add({
      match: 'PUT networkSecurityGroups',
      nth: 2,
      mode: 'http',
      status: 503,
      code: 'ServerBusy',
    });
    f.arm.faults.add({
      match: 'PUT networkSecurityGroups',
      nth: 4,
      mode: 'http',
      status: 409,
      code: 'AnotherOperationInProgress',
    });
    f.arm.faults.add({
      match: 'PUT publicIPAddresses',
      mode: 'lro',
      code: 'AllocationFailed',
      message: 'No capacity.',
    });
    const spec = {
      type: 'Microsoft.Network/networkSecurityGroups' as const,
      resourceGroup: rg,
      location: LOCATION,
      rules: [],
    };
    await put(f.target, { ...spec, name: 'f1' });
    // A 503 is retried by the clients' pipeline (PUT is idempotent): the call still succeeds.
    await put(f.target, { ...spec, name: 'f2' });
    expect(
      f.arm.faults.calls.filter((c) => c.method === 'PUT' && c.path.endsWith('/f2')).length,
    ).toBe(2);
    const busy = await failure(f.target.beginPut({ ...spec, name: 'f3' }));
    expect([busy.kind, busy.details?.code]).toEqual(['conflict', 'AnotherOperationInProgress']);
    const o = await settle(
      f.target,
      await f.target.beginPut({
        type: 'Microsoft.Network/publicIPAddresses',
        resourceGroup: rg,
        name: 'pip-fail',
        location: LOCATION,
      }),
    );
    expect(o).toMatchObject({ status: 'failed', code: 'AllocationFailed', retryable: true });
    const nicPut = f.arm.faults.calls.find(
      (c) => c.method === 'PUT' && c.path.endsWith('/networkInterfaces/nic-static'),
    );
    // The NIC body as arm-network sends it (recorded shapes: the same adapter fits Azure).
    expect(nicPut?.body).toMatchObject({
      location: LOCATION,
      properties: {
        ipConfigurations: [
          {
            name: 'ipconfig1',
            properties: {
              privateIPAddress: '10.30.1.20',
              privateIPAllocationMethod: 'Static',
              subnet: { id: expect.stringMatching(/\/subnets\/default$/) },
            },
          },
        ],
      },
    });
    f.arm.faults.clear();
  });
});
