import { z } from 'zod';
import { planNameSchema } from '../plans/planSchema';
import { pointChoiceSchema } from '../recovery/pointChoice';
import { severities, signalTypes } from './commonAlertSchema';

/**
 * Alert triggers (issue 13 §2): which alerts start which operation on which plan, and the
 * guards around it. An alert matches when every given criterion holds; a trigger names at
 * least its rules or its targets.
 */
export const triggerNameSchema = planNameSchema;
export const triggerOperations = ['failover', 'test-failover', 'notify'] as const;
export type TriggerOperation = (typeof triggerOperations)[number];

export const triggerMatchSchema = z
  .object({
    /** Alert rule names (the essentials' `alertRule`), any of them; case-insensitive. */
    rules: z.array(z.string().min(1).max(1000)).max(20).default([]),
    /** Resource ids: an alert target equal to one, or under it; case-insensitive. */
    targetIds: z.array(z.string().min(1).max(2000)).max(20).default([]),
    /** The least severe severity that still matches (Sev0 is the most severe). */
    minSeverity: z.enum(severities).optional(),
    signalTypes: z.array(z.enum(signalTypes)).max(3).optional(),
    /** Each must be present in the alert's custom properties with exactly this value. */
    customProperties: z.record(z.string().max(200), z.string().max(1000)).optional(),
  })
  .strict()
  .refine((m) => m.rules.length > 0 || m.targetIds.length > 0, 'name rules or targetIds');

const triggerFields = {
  plan: planNameSchema,
  operation: z.enum(triggerOperations),
  match: triggerMatchSchema,
  mode: z
    .enum(['automatic', 'approval'])
    .default('automatic')
    .describe('approval: a person resumes (approves) or cancels (denies) the decision job'),
  /** Before acting (the site may come back). Default: 3600 for a failover (it loses data), else 0. */
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional(),
  /** Independent signals (distinct alert rules) that must be firing together. */
  quorum: z.number().int().min(1).max(10).default(1),
  /** How long a decision waits for its quorum after the first signal. */
  quorumWindowSeconds: z.number().int().min(1).max(86_400).default(900),
  /** After an automated operation on the plan, further alerts are suppressed this long. */
  cooldownSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(3600),
  approvalTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(3600),
  /** What an unanswered approval decides (deny unless told otherwise). */
  approvalOnTimeout: z.enum(['deny', 'approve']).default('deny'),
  /** The point the operation uses; default: the plan's choice. */
  point: pointChoiceSchema.optional(),
  enabled: z.boolean().default(true),
  description: z.string().max(500).optional(),
};

export const triggerBody = z.object(triggerFields).strict();
export const createTriggerBody = z.object({ name: triggerNameSchema, ...triggerFields }).strict();
export type TriggerBody = z.infer<typeof triggerBody>;
export type CreateTriggerBody = z.infer<typeof createTriggerBody>;

/** The grace period a trigger applies (its own, or the default for its operation). */
export const graceOf = (t: { operation: TriggerOperation; graceSeconds?: number }): number =>
  t.graceSeconds ?? (t.operation === 'failover' ? 3600 : 0);
