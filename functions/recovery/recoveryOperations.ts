import type { z } from 'zod';
import { register } from '../controlPlane/api';
import { jobResponse } from '../controlPlane/responseSchemas';
import { durableClientInput, launcherFor } from '../controlPlane/durableLauncher';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { emptyBody, resourceIdSchema } from '../../core/controlPlane/schemas';
import { RecoveryJob, type RecoveryJobType } from '../../core/recovery/operations';
import { changePointBody, failoverBody, testFailoverBody } from '../../core/recovery/schemas';

/**
 * The recovery operations: each answers 202 + `Location` of its job (200 with the same job for
 * a repeated `Idempotency-Key` and body). Refusals are problem+json and change nothing.
 */
// Function names are `start…`: the sagas' names are taken (one namespace per Functions app).
function operation(
  name: string,
  route: string,
  job: RecoveryJobType,
  body: z.ZodType<{ point?: string; planned?: boolean }>,
  summary: string,
) {
  return register(
    {
      name,
      method: 'POST',
      route: `machines/{id}/${route}`,
      caller: 'admin',
      tag: 'recovery',
      summary,
      body,
      response: jobResponse,
      responses: {
        202: 'Started; follow the job at Location',
        200: 'The job an earlier request with this Idempotency-Key started',
        409: 'Refused: wrong state, no fitting point, a point still being cut, already running',
      },
      extraInputs: [durableClientInput],
    },
    handler(async (root, req, context) => {
      const id = param(req, 'id', resourceIdSchema);
      const parsed = await parseBody(req, body, root.config.maxBodyBytes);
      const key = req.headers.get('idempotency-key') ?? undefined;
      const r = await root.recovery.service.start(job, id, parsed, {
        ...(key ? { idempotencyKey: key.slice(0, 200) } : {}),
        launcher: launcherFor(context),
      });
      return {
        status: r.created ? 202 : 200,
        headers: { location: `/api/jobs/${r.job.id}` },
        jsonBody: r.job,
      };
    }),
  );
}

export const testFailover = operation(
  'startTestFailover',
  'test-failover',
  RecoveryJob.testFailover,
  testFailoverBody,
  'Test failover into the isolated test network; replication continues',
);
export const testFailoverCleanup = operation(
  'startTestFailoverCleanup',
  'test-failover-cleanup',
  RecoveryJob.testFailoverCleanup,
  emptyBody,
  'Delete everything the test failover made',
);
export const failover = operation(
  'startFailover',
  'failover',
  RecoveryJob.failover,
  failoverBody,
  'Fail over to Azure (unplanned, or planned with zero data loss)',
);
export const changeRecoveryPoint = operation(
  'startChangeRecoveryPoint',
  'change-recovery-point',
  RecoveryJob.changePoint,
  changePointBody,
  'After failover, before commit: swap the disks to another point (same NIC and IP)',
);
export const commitFailover = operation(
  'startCommitFailover',
  'commit',
  RecoveryJob.commit,
  emptyBody,
  'Commit the failover (no more point changes; replication stops)',
);
export const cancelFailover = operation(
  'startCancelFailover',
  'cancel-failover',
  RecoveryJob.cancel,
  emptyBody,
  'Cancel the failover: delete the VM and its disks; back to protected, replication continues',
);
export const reprotect = operation(
  'startReprotect',
  'reprotect',
  RecoveryJob.reprotect,
  emptyBody,
  'After commit: replicate the Azure disks back to the site (the first diff since the failover point)',
);
export const failback = operation(
  'startFailback',
  'failback',
  RecoveryJob.failback,
  emptyBody,
  "Planned failback: power off the Azure VM, ship the final diff, wait for the site's digest",
);
export const commitFailback = operation(
  'startCommitFailback',
  'commit-failback',
  RecoveryJob.commitFailback,
  emptyBody,
  'After failback: remove the Azure VM, its disks, network and snapshots (each disk keeps its final snapshot as the seed of re-enable); the result lists what was removed',
);
export const reenable = operation(
  'startReenable',
  'reenable',
  RecoveryJob.reenable,
  emptyBody,
  'After failback commit: protect the site server again; the new replicas start from the seed snapshots, so only what the site wrote since failback travels',
);
