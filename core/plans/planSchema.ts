import { z } from 'zod';
import { resourceIdSchema } from '../controlPlane/schemas';
import { pointChoiceSchema } from '../recovery/pointChoice';

/**
 * Recovery plans (issue 13 §1): ordered groups of protected machines, each group with pre- and
 * post-actions scoped to operation types and direction. The HTTP layer validates bodies with
 * these schemas (strict: unknown fields are refused) and the OpenAPI document is built from them.
 */

export const planNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, max 63');
export const actionNameSchema = planNameSchema;

/** What an action is scoped to: test failover, planned failover, unplanned failover. */
export const actionOperationTypes = ['test', 'planned', 'unplanned'] as const;
export type ActionOperationType = (typeof actionOperationTypes)[number];
/** `failover`: to Azure; `failback`: back to the site (the failback issue runs those). */
export const directions = ['failover', 'failback'] as const;
export type Direction = (typeof directions)[number];

const actionBase = {
  name: actionNameSchema.describe('Unique in the plan'),
  operations: z
    .array(z.enum(actionOperationTypes))
    .min(1)
    .default([...actionOperationTypes])
    .describe('Operation types the action runs for (default: all)'),
  direction: z.enum(directions).default('failover'),
};

const httpUrl = z
  .url()
  .max(2000)
  .refine((u) => /^https?:\/\//i.test(u), 'an http(s) URL');

export const webhookActionSchema = z
  .object({
    ...actionBase,
    kind: z.literal('webhook'),
    url: httpUrl.describe('May carry a key in its query: shown redacted, never logged'),
    method: z.enum(['POST', 'PUT']).default('POST'),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(4096))
      .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
      .default({})
      .describe('Shown redacted, never logged'),
    expectedStatus: z
      .array(z.number().int().min(100).max(599))
      .min(1)
      .default([200, 201, 202, 204]),
    retries: z.number().int().min(0).max(10).default(3),
    timeoutSeconds: z.number().int().min(1).max(600).default(30),
  })
  .strict();

export const manualActionSchema = z
  .object({
    ...actionBase,
    kind: z.literal('manual'),
    instructions: z.string().max(2000).optional(),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(3600),
    /** What the timeout decides: the job fails (default) or continues. */
    onTimeout: z.enum(['fail', 'continue']).default('fail'),
  })
  .strict();

export const waitActionSchema = z
  .object({
    ...actionBase,
    kind: z.literal('wait'),
    seconds: z.number().int().min(1).max(86_400),
  })
  .strict();

export const healthActionSchema = z
  .object({
    ...actionBase,
    kind: z.literal('health'),
    /** The group's machines must all pass their health probes within this. */
    timeoutSeconds: z.number().int().min(1).max(86_400).default(300),
  })
  .strict();

export const planActionSchema = z.discriminatedUnion('kind', [
  webhookActionSchema,
  manualActionSchema,
  waitActionSchema,
  healthActionSchema,
]);
export type PlanAction = z.infer<typeof planActionSchema>;
export type WebhookAction = z.infer<typeof webhookActionSchema>;
export type ActionKind = PlanAction['kind'];

export const planGroupSchema = z
  .object({
    id: z.number().int().min(1).max(10_000).describe('Groups run in ascending id order'),
    machines: z.array(resourceIdSchema).min(1).max(10_000),
    pre: z.array(planActionSchema).max(50).default([]),
    post: z.array(planActionSchema).max(50).default([]),
  })
  .strict();
export type PlanGroup = z.infer<typeof planGroupSchema>;

export const drillScheduleSchema = z
  .object({
    /** NCRONTAB (seconds first, as Functions timers) or five-field cron, UTC. */
    schedule: z.string().min(9).max(120),
    point: pointChoiceSchema.default('latest-processed'),
    enabled: z.boolean().default(true),
  })
  .strict();
export type DrillSchedule = z.infer<typeof drillScheduleSchema>;

const planFields = {
  description: z.string().max(500).optional(),
  groups: z.array(planGroupSchema).min(1).max(1000),
  pointChoice: pointChoiceSchema
    .default('latest')
    .describe('latest, latest-processed, latest-app-consistent, latest-group, or a point id'),
  maxParallel: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('Machines of one group recovered at once'),
  drill: drillScheduleSchema.optional(),
};

type PlanShape = { groups: PlanGroup[] };

/** Group ids unique, a machine once per plan, action names unique in the plan. */
function checkPlan(p: PlanShape, ctx: z.RefinementCtx): void {
  const ids = new Set<number>();
  const machines = new Set<string>();
  const actions = new Set<string>();
  p.groups.forEach((g, gi) => {
    if (ids.has(g.id))
      ctx.addIssue({ code: 'custom', path: ['groups', gi, 'id'], message: `group ${g.id} twice` });
    ids.add(g.id);
    g.machines.forEach((m, mi) => {
      if (machines.has(m))
        ctx.addIssue({
          code: 'custom',
          path: ['groups', gi, 'machines', mi],
          message: `machine '${m}' is in the plan twice`,
        });
      machines.add(m);
    });
    for (const phase of ['pre', 'post'] as const)
      g[phase].forEach((a, ai) => {
        if (actions.has(a.name))
          ctx.addIssue({
            code: 'custom',
            path: ['groups', gi, phase, ai, 'name'],
            message: `action '${a.name}' twice in the plan`,
          });
        actions.add(a.name);
      });
  });
  if (machines.size > 10_000)
    ctx.addIssue({ code: 'custom', path: ['groups'], message: 'at most 10000 machines' });
}

/** PUT /plans/{name}: the whole plan but its name. */
export const planBody = z.object(planFields).strict().superRefine(checkPlan);
export type PlanBody = z.infer<typeof planBody>;

/** POST /plans. */
export const createPlanBody = z
  .object({ name: planNameSchema, ...planFields })
  .strict()
  .superRefine(checkPlan);
export type CreatePlanBody = z.infer<typeof createPlanBody>;

/** POST /plans/{name}/actions: one action added to a group. */
export const addActionBody = z
  .object({
    group: z.number().int().min(1),
    phase: z.enum(['pre', 'post']),
    action: planActionSchema,
  })
  .strict();
export type AddActionBody = z.infer<typeof addActionBody>;

/** Bodies of the plan operations. */
export const planTestFailoverBody = z.object({ point: pointChoiceSchema.optional() }).strict();
export const planFailoverBody = z
  .object({
    point: pointChoiceSchema.optional().describe("Default: the plan's point choice"),
    planned: z.boolean().optional().describe('Site still up: zero data loss per machine'),
  })
  .strict();
export const planChangePointBody = z.object({ point: pointChoiceSchema }).strict();
