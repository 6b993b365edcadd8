import { z } from 'zod';
import { register } from '../controlPlane/api';
import { handler } from '../http/handler';
import { param } from '../http/body';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import { failoverStatus } from '../../core/recovery/failoverStatus';
import { targetOfRoot } from './target';

const statusResponse = z.object({
  machineId: z.string(),
  state: z.string().nullable(),
  pointId: z.string().nullable(),
  test: z.boolean(),
  vm: z
    .object({
      id: z.string(),
      powerState: z.string(),
      privateIp: z.string().nullable(),
      publicIp: z.string().nullable(),
    })
    .nullable(),
  failover: z.record(z.string(), z.unknown()).nullable(),
  testFailover: z.record(z.string(), z.unknown()).nullable(),
});

export const getFailoverStatus = register(
  {
    name: 'getFailoverStatus',
    method: 'GET',
    route: 'machines/{id}/failover',
    caller: 'admin',
    tag: 'recovery',
    summary: 'Failover and test failover of a machine: state, point, the VM and its power state',
    response: statusResponse,
    responses: { 200: 'The status' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    await root.controlPlane.machines.getDoc(id); // 404 for an unknown machine
    const { protectedItems } = root.controlPlane;
    return {
      jsonBody: await failoverStatus(
        id,
        protectedItems,
        root.recovery.records,
        root.clock(),
        targetOfRoot(root),
      ),
    };
  }),
);
