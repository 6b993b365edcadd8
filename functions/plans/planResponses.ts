import { z } from 'zod';
import type { PlanDoc, PlanRunDoc } from '../../core/plans/model';
import { drillScheduleSchema, planGroupSchema } from '../../core/plans/planSchema';
import { redactGroups } from '../../core/plans/planSecrets';

/** Response shapes of the plans API (OpenAPI), and the redacted view of a plan. */

const time = z.string().describe('ISO 8601 UTC time');

export const planResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  groups: z.array(planGroupSchema).describe('Webhook keys and header values shown as ***'),
  pointChoice: z.string(),
  maxParallel: z.number().int(),
  drill: drillScheduleSchema.optional(),
  createdAt: time,
  updatedAt: time,
  run: z
    .object({
      active: z
        .object({ jobId: z.string(), operation: z.string(), since: time, automated: z.boolean() })
        .optional(),
      lastAutomated: z
        .object({
          jobId: z.string(),
          operation: z.string(),
          at: time,
          decisionId: z.string().optional(),
        })
        .optional(),
      nextDrillAt: time.optional(),
    })
    .optional(),
});

/** A plan as the API shows it: secrets redacted, its run facts alongside. */
export function planView(doc: PlanDoc, run?: PlanRunDoc): z.infer<typeof planResponse> {
  return {
    ...doc,
    groups: redactGroups(doc.groups),
    ...(run
      ? {
          run: {
            ...(run.active ? { active: run.active } : {}),
            ...(run.lastAutomated ? { lastAutomated: run.lastAutomated } : {}),
            ...(run.nextDrillAt ? { nextDrillAt: run.nextDrillAt } : {}),
          },
        }
      : {}),
  };
}

export const drillReportResponse = z.object({
  id: z.string(),
  planName: z.string(),
  startedAt: time,
  endedAt: time.optional(),
  startedBy: z.string(),
  point: z.string(),
  state: z.enum(['running', 'succeeded', 'partially-succeeded', 'failed']),
  testJobId: z.string().optional(),
  cleanupJobId: z.string().optional(),
  machines: z.array(
    z.object({
      machineId: z.string(),
      pointId: z.string().optional(),
      pointTime: time.optional(),
      bootSeconds: z.number().optional(),
      rtoSeconds: z.number().optional(),
      rpoSeconds: z.number().optional(),
      health: z.enum(['ok', 'failed', 'not-checked']),
      error: z.string().optional(),
    }),
  ),
  rtoSeconds: z.number().optional(),
  rpoSeconds: z.number().optional(),
  leftovers: z.array(z.string()),
  error: z.string().optional(),
});
