import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { ArmRecoveryTarget } from '../../adapters/arm/armRecoveryTarget';
import { createArmClients, type ArmClients } from '../../adapters/arm/armClients';
import { fixedVhdFooter } from '../../core/replication/vhdFooter';
import type {
  OperationHandle,
  OperationOutcome,
  RecoveryTarget,
  ResourceSpec,
  SecurityRule,
} from '../../core/recovery/ports';
import { startLocalArm, type LocalArm, type LocalArmOptions } from '../../local/arm/localArm';
import { armAdmin } from './armAdmin';
import { waitFor } from './waitFor';

export const LOCATION = 'westeurope';

/** An NSG rule letting anyone reach port 80 (the test servers' web service). */
export const HTTP_FROM_ANYWHERE: SecurityRule = {
  name: 'http',
  priority: 100,
  direction: 'Inbound',
  access: 'Allow',
  protocol: 'Tcp',
  destinationPortRange: '80',
  sourceAddressPrefix: '*',
};

/**
 * A local ARM endpoint in this process on its own state dir (removed by `close`), and the ARM
 * adapter and raw clients pointed at it. Without a storage connection, Import has no storage
 * account to read (every other operation works).
 */
export interface ArmFixture {
  arm: LocalArm;
  target: ArmRecoveryTarget;
  clients: ArmClients;
  /** The endpoint's fault-injection admin API, over HTTPS. */
  admin: ReturnType<typeof armAdmin>;
  stateDir: string;
  /** A fresh adapter (as another activity's process would build). */
  freshTarget(): ArmRecoveryTarget;
  restart(opts?: Partial<LocalArmOptions>): Promise<void>;
  close(): Promise<void>;
}

export async function armFixture(
  storageConnection: string | undefined,
  opts: Partial<LocalArmOptions> = {},
): Promise<ArmFixture> {
  const stateDir = mkdtempSync(join(tmpdir(), 'haven-arm-test-'));
  let current = opts;
  const start = () =>
    startLocalArm({ stateDir, storageConnection, location: LOCATION, ...current });
  const f = {} as ArmFixture;
  const bind = (arm: LocalArm) => {
    const settings = {
      endpoint: arm.endpoint,
      subscriptionId: arm.subscriptionId,
      credential: 'static-token' as const,
      token: arm.token,
      caCert: arm.caCertPath,
    };
    Object.assign(f, {
      arm,
      target: new ArmRecoveryTarget(settings),
      clients: createArmClients(settings),
      freshTarget: () => new ArmRecoveryTarget(settings),
      admin: armAdmin({
        endpoint: arm.endpoint,
        token: arm.token,
        ca: readFileSync(arm.caCertPath, 'utf8'),
      }),
    });
  };
  bind(await start());
  f.stateDir = stateDir;
  f.restart = async (more = {}) => {
    current = { ...current, ...more };
    await f.arm.stop();
    bind(await start());
  };
  f.close = async () => {
    await f.arm.stop({ stopVms: true });
    rmSync(stateDir, { recursive: true, force: true });
  };
  return f;
}

/** Polls an operation through the port until it ends. */
export async function settle(
  target: RecoveryTarget,
  handle: OperationHandle,
): Promise<OperationOutcome> {
  return waitFor(
    `${handle.action} ${handle.resourceId}`,
    async () => {
      const o = await target.poll(handle);
      return o.status === 'running' ? undefined : o;
    },
    { intervalMs: 20, timeoutMs: 120_000 },
  );
}

export async function put(target: RecoveryTarget, spec: ResourceSpec): Promise<OperationOutcome> {
  const o = await settle(target, await target.beginPut(spec));
  if (o.status !== 'succeeded')
    throw new Error(`PUT ${spec.type}/${spec.name} failed: ${JSON.stringify(o)}`);
  return o;
}

/** Uploads `data` (a whole number of MiB) as a fixed-VHD page blob, the shape of a replica. */
export async function uploadVhd(
  storageConnection: string,
  container: string,
  name: string,
  data: Buffer,
  footer = true,
): Promise<string> {
  const service = BlobServiceClient.fromConnectionString(storageConnection);
  const c = service.getContainerClient(container);
  await c.createIfNotExists();
  const blob = c.getPageBlobClient(name);
  const tail = footer ? fixedVhdFooter(data.length, name, 0) : Buffer.alloc(0);
  await blob.create(data.length + tail.length);
  const all = Buffer.concat([data, tail]);
  for (let o = 0; o < all.length; o += 4 * 1024 * 1024) {
    const piece = all.subarray(o, Math.min(all.length, o + 4 * 1024 * 1024));
    if (piece.some((b) => b !== 0)) await blob.uploadPages(piece, o, piece.length);
  }
  return blob.url;
}
