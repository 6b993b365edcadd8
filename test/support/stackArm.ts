import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArmRecoveryTarget } from '../../adapters/arm/armRecoveryTarget';
import type { ResourceView } from '../../core/recovery/ports';
import type { StackInfo } from './localStack';

/** A fault of the local ARM endpoint (local/arm/faults.ts). */
export interface ArmFault {
  match: string;
  nth?: number;
  mode: 'http' | 'lro' | 'slow';
  status?: number;
  code?: string;
  message?: string;
  delayMs?: number;
}

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
  const admin = (method: string, p: string, body?: unknown) =>
    new Promise<number>((resolve, reject) => {
      const req = request(new URL(p, endpoint), {
        method,
        ca,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return {
    target,
    /** Resources in the group, optionally only those tagged with one of these jobs. */
    async list(resourceGroup: string, jobIds?: string[]): Promise<ResourceView[]> {
      const all = await target.list(resourceGroup);
      return jobIds ? all.filter((r) => jobIds.includes(r.tags['haven-job'] ?? '')) : all;
    },
    async fault(f: ArmFault): Promise<void> {
      const status = await admin('POST', '/haven/admin/faults', f);
      if (status !== 201) throw new Error(`fault not armed: HTTP ${status}`);
    },
    async clearFaults(): Promise<void> {
      await admin('DELETE', '/haven/admin/faults');
    },
  };
}
