import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOnKeptPort } from '../stack/keptPort';
import type { StackService } from '../stack/stackService';
import { startLocalArm } from './localArm';

/** The region the local endpoint serves: the app's default recovery location. */
export const LOCAL_ARM_LOCATION = 'westeurope';

/**
 * `npm start` service: the local Azure Resource Manager (state under `<stateDir>/arm`), and the
 * app settings that point the ARM adapter at it. A persistent stack leaves its VMs running when
 * it stops (the next start adopts them, as Azure VMs outlive the control plane); an in-memory
 * stack (tests) stops them, so a test run leaves no guest behind.
 */
export const armService: StackService = {
  name: 'arm',
  async start(ctx) {
    const stateDir = ctx.persistent ? ctx.stateDir : mkdtempSync(join(tmpdir(), 'haven-arm-'));
    const arm = await startOnKeptPort(
      ctx.persistent ? join(stateDir, 'arm', 'port') : undefined,
      (port) =>
        startLocalArm({
          stateDir,
          // Managed disks import from the replicas' account (the only one, or their own).
          storageConnection:
            ctx.settings.HAVEN_REPLICA_STORAGE_CONNECTION ?? ctx.settings.HAVEN_STORAGE_CONNECTION,
          location: LOCAL_ARM_LOCATION,
          port,
        }),
      (a) => a.endpoint,
    );
    ctx.log.info(`local ARM endpoint at ${arm.endpoint}`);
    return {
      settings: {
        HAVEN_ARM_ENDPOINT: arm.endpoint,
        HAVEN_ARM_SUBSCRIPTION_ID: arm.subscriptionId,
        HAVEN_ARM_CREDENTIAL: 'static-token',
        HAVEN_ARM_TOKEN: arm.token,
        HAVEN_ARM_CA_CERT: arm.caCertPath,
        HAVEN_RECOVERY_LOCATION: arm.location,
        ...(arm.storageAccountId ? { HAVEN_STORAGE_ACCOUNT_ID: arm.storageAccountId } : {}),
      },
      private: ['HAVEN_ARM_TOKEN'],
      async stop() {
        await arm.stop({ stopVms: !ctx.persistent });
        // An in-memory stack's state (disk files, serial logs, the endpoint's TLS key) goes too.
        if (!ctx.persistent) rmSync(stateDir, { recursive: true, force: true });
      },
    };
  },
};
