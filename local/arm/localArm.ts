import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { QemuVmRunner } from '../vm/qemuRunner';
import type { VmRunner } from '../vm/types';
import { ArmContext } from './armContext';
import { armHandler } from './armServer';
import { ArmStore } from './armStore';
import { DiskProvider } from './diskProvider';
import { Faults } from './faults';
import { GroupProvider } from './groupProvider';
import { NetworkProvider } from './networkProvider';
import { loadOrCreateTls } from './tls';
import { VmProvider } from './vmProvider';

export interface LocalArmOptions {
  /** The stack's state directory: the endpoint keeps everything under `<stateDir>/arm/`. */
  stateDir: string;
  /** Azurite's connection string: managed disks import replica page blobs from it. */
  storageConnection?: string;
  vmRunner?: VmRunner;
  port?: number;
  /** The one region it serves (default `local`). */
  location?: string;
  /** Memory of every local guest (default 160 MiB). */
  vmMemoryMiB?: number;
}

export interface LocalArm {
  /** e.g. https://127.0.0.1:40123 */
  endpoint: string;
  subscriptionId: string;
  token: string;
  caCertPath: string;
  location: string;
  /** The ARM id of the storage account behind `storageConnection`. */
  storageAccountId?: string;
  faults: Faults;
  vmRunner: VmRunner;
  /** Waits for operations still running (tests, before they look at state). */
  idle(): Promise<void>;
  /** Stops the endpoint (again: nothing); guests keep running unless `stopVms` (they are adopted on the next start). */
  stop(opts?: { stopVms?: boolean }): Promise<void>;
}

/**
 * Stops every guest the endpoint on `stateDir` ever started (its runner's records), without
 * starting the endpoint. Guests outlive their stack by design (a restart adopts them), so
 * whoever wipes a state directory (`npm start -- --fresh`, a test removing its stack's
 * directory) stops them first: nothing else would, and each holds its memory until then.
 */
export async function stopLocalArmVms(stateDir: string): Promise<void> {
  const runnerDir = join(stateDir, 'arm', 'runner');
  if (existsSync(runnerDir)) await new QemuVmRunner({ stateDir: runnerDir }).stopAll();
}

/** Persistent facts of one endpoint: its subscription id and bearer token survive restarts. */
function identity(dir: string): { subscriptionId: string; token: string } {
  const file = join(dir, 'identity.json');
  if (existsSync(file))
    return JSON.parse(readFileSync(file, 'utf8')) as { subscriptionId: string; token: string };
  const id = { subscriptionId: randomUUID(), token: randomBytes(32).toString('base64url') };
  writeFileSync(file, JSON.stringify(id), { mode: 0o600 });
  return id;
}

/**
 * Starts the local Azure Resource Manager: HTTPS on 127.0.0.1 with the stack's own CA, bearer
 * token, state under `<stateDir>/arm/` (resources, disk files, serial logs) that survives a
 * restart, running VMs included (adopted or started again by the runner).
 */
export async function startLocalArm(opts: LocalArmOptions): Promise<LocalArm> {
  const dir = join(opts.stateDir, 'arm');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { subscriptionId, token } = identity(dir);
  const tls = loadOrCreateTls(join(dir, 'tls'));
  const location = opts.location ?? 'local';
  const store = new ArmStore(dir);
  const vmRunner = opts.vmRunner ?? new QemuVmRunner({ stateDir: join(dir, 'runner') });
  const ctx = new ArmContext(store, vmRunner, {
    subscriptionId,
    storageConnection: opts.storageConnection,
    vmMemoryMiB: opts.vmMemoryMiB ?? 160,
    location,
  });
  const network = new NetworkProvider(ctx);
  const providers = {
    groups: new GroupProvider(ctx),
    network,
    disks: new DiskProvider(ctx),
    vms: new VmProvider(ctx, network),
  };
  const faults = new Faults();
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void armHandler(ctx, providers, faults, token)(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctx.baseUrl = endpoint;
  ctx.failInterrupted();
  await providers.vms.recover();
  const account = opts.storageConnection
    ? BlobServiceClient.fromConnectionString(opts.storageConnection).accountName
    : undefined;
  return {
    endpoint,
    subscriptionId,
    token,
    caCertPath: tls.caCertPath,
    location,
    ...(account
      ? {
          storageAccountId: `/subscriptions/${subscriptionId}/resourceGroups/haven-storage/providers/Microsoft.Storage/storageAccounts/${account}`,
        }
      : {}),
    faults,
    vmRunner,
    idle: () => ctx.idle(),
    async stop(o = {}) {
      if (server.listening) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await ctx.idle();
      }
      if (o.stopVms) await vmRunner.stopAll();
    },
  };
}
