import type { z } from 'zod';
import { register } from '../controlPlane/api';
import { jobResponse } from '../controlPlane/responseSchemas';
import { durableClientInput, launcherFor } from '../controlPlane/durableLauncher';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { emptyBody } from '../../core/controlPlane/schemas';
import { PlanOperation, type PlanOperationType } from '../../core/plans/planOperations';
import {
  planChangePointBody,
  planFailoverBody,
  planNameSchema,
  planTestFailoverBody,
} from '../../core/plans/planSchema';

/**
 * Operations on a recovery plan: each answers 202 + `Location` of the plan job (200 with the
 * same job for a repeated `Idempotency-Key` and body); the job is a tree (plan job → one
 * recovery job per machine). Refusals are problem+json and change nothing.
 */
// Function names start `startPlan…`: the saga's names share the Functions app's namespace.
function operation(
  name: string,
  route: string,
  op: PlanOperationType,
  body: z.ZodType<{ point?: string; planned?: boolean }>,
  summary: string,
) {
  return register(
    {
      name,
      method: 'POST',
      route: `plans/{name}/${route}`,
      caller: 'admin',
      tag: 'recovery-plans',
      summary,
      body,
      response: jobResponse,
      responses: {
        202: 'Started; follow the plan job at Location',
        200: 'The job an earlier request with this Idempotency-Key started',
        409: 'Refused: an operation is running on the plan, no fitting point',
      },
      extraInputs: [durableClientInput],
    },
    handler(async (root, req, context) => {
      const plan = param(req, 'name', planNameSchema);
      const parsed = await parseBody(req, body, root.config.maxBodyBytes);
      const key = req.headers.get('idempotency-key') ?? undefined;
      const r = await root.plans.service.start(op, plan, parsed, {
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

export const planTestFailover = operation(
  'startPlanTestFailover',
  'test-failover',
  PlanOperation.testFailover,
  planTestFailoverBody,
  "Test failover of the plan's machines, group by group, into the test network",
);
export const planTestFailoverCleanup = operation(
  'startPlanTestFailoverCleanup',
  'test-failover-cleanup',
  PlanOperation.testFailoverCleanup,
  emptyBody,
  'Clean up the test failover of every machine of the plan',
);
export const planFailover = operation(
  'startPlanFailover',
  'failover',
  PlanOperation.failover,
  planFailoverBody,
  'Fail the plan over to Azure, group by group (unplanned, or planned with zero data loss)',
);
export const planChangeRecoveryPoint = operation(
  'startPlanChangeRecoveryPoint',
  'change-recovery-point',
  PlanOperation.changePoint,
  planChangePointBody,
  "After failover, before commit: every machine's disks to another point",
);
export const planCommit = operation(
  'startPlanCommit',
  'commit',
  PlanOperation.commit,
  emptyBody,
  "Commit every machine's failover",
);
export const planCancel = operation(
  'startPlanCancelFailover',
  'cancel-failover',
  PlanOperation.cancel,
  emptyBody,
  "Cancel every machine's failover (back to protected)",
);
