import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArmRecoveryTarget } from '../../adapters/arm/armRecoveryTarget';
import type { ResourceView } from '../../core/recovery/ports';
import { armAdmin, type ArmFault } from './armAdmin';
import type { StackInfo } from './localStack';

/**
 * The local ARM endpoint of a running (persistent) stack, as a test sees it: the ARM adapter
 * (what is in a resource group) and the fault-injection admin API, with the endpoint's bearer
 * token (kept out of local.env, read from the stack's state) and its CA.
 */
export function stackArm(stack: Pick<StackInfo, 'stateDir' | 'env'>) {
  const { token } = JSON.parse(
    readFileSync(path.join(stack.stateDir, 'arm', 'identity.json'), 'utf8'),
  ) as { token: string };
  const endpoint = stack.env.HAVEN_ARM_ENDPOINT!;
  const ca = readFileSync(stack.env.HAVEN_ARM_CA_CERT!, 'utf8');
  const target = new ArmRecoveryTarget({
    endpoint,
    subscriptionId: stack.env.HAVEN_ARM_SUBSCRIPTION_ID!,
    credential: 'static-token',
    token,
    caCert: ca,
  });
  const admin = armAdmin({ endpoint, token, ca });
  return {
    target,
    /** Resources in the group, optionally only those tagged with one of these jobs. */
    async list(resourceGroup: string, jobIds?: string[]): Promise<ResourceView[]> {
      const all = await target.list(resourceGroup);
      return jobIds ? all.filter((r) => jobIds.includes(r.tags['haven-job'] ?? '')) : all;
    },
    fault: (f: ArmFault) => admin.fault(f),
    clearFaults: () => admin.clear(),
    calls: () => admin.calls(),
  };
}
