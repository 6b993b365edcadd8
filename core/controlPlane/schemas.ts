import { z } from 'zod';
import { MAX_DISK_BYTES } from '../batch/constants';

/**
 * Request and resource schemas of the control-plane API. The HTTP layer validates bodies
 * with them (strict: unknown fields are refused) and the OpenAPI document is generated from
 * them, so the two cannot drift.
 */

export const siteIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, max 63');
export const diskIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -, max 64');
export const policyNameSchema = siteIdSchema;

export const createSiteBody = z
  .object({
    name: siteIdSchema.describe('Site id and name'),
    description: z.string().max(500).optional(),
  })
  .strict();

export const createTokenBody = z
  .object({
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .default(3600),
  })
  .strict();

/**
 * The most disks one machine may register (enrollment and `disk add` together): each is a
 * document, a replica and a generation chain the service holds for the machine.
 */
export const MAX_DISKS_PER_MACHINE = 64;

export const diskFactsSchema = z
  .object({
    id: diskIdSchema,
    sizeBytes: z
      .number()
      .int()
      .positive()
      // The replica is one page blob (at most 8 TiB with its footer): a larger disk could be
      // enrolled but never replicated (ingest refuses its batches), so it is refused here.
      .max(MAX_DISK_BYTES, 'sizeBytes is beyond the largest disk a page blob holds')
      .refine((n) => n % 512 === 0, 'sizeBytes must be a multiple of 512'),
    logicalSectorSize: z.union([z.literal(512), z.literal(4096)]),
  })
  .strict()
  .refine((d) => d.sizeBytes % d.logicalSectorSize === 0, {
    message: 'sizeBytes must be whole logical sectors',
    path: ['sizeBytes'],
  });

export const enrollBody = z
  .object({
    token: z.string().min(1).max(200),
    hostname: z.string().min(1).max(255),
    os: z.string().min(1).max(200),
    agentVersion: z.string().max(64).optional(),
    disks: z.array(diskFactsSchema).max(MAX_DISKS_PER_MACHINE).default([]),
  })
  .strict()
  .refine((b) => new Set(b.disks.map((d) => d.id)).size === b.disks.length, {
    message: 'disk ids must be unique',
    path: ['disks'],
  });

export const thinningRule = z
  .object({
    keep: z.enum(['hourly', 'daily', 'weekly']),
    forHours: z
      .number()
      .int()
      .positive()
      .max(24 * 3650),
  })
  .strict();

export const policyFields = z
  .object({
    crashIntervalSeconds: z.number().int().min(1).max(3600).default(5),
    /** 0 turns app-consistent points off. */
    appIntervalSeconds: z.number().int().min(0).max(86400).default(3600),
    retentionHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 3650)
      .default(24),
    thinning: z.array(thinningRule).max(8).default([]),
    rpoAlertSeconds: z.number().int().min(1).max(86400).default(60),
    /** How long a durable point may wait for materialization before a warning (RTO it carries). */
    hydrationLagAlertSeconds: z.number().int().min(1).max(86400).default(900),
    description: z.string().max(500).optional(),
  })
  .strict();

export const createPolicyBody = policyFields.extend({ name: policyNameSchema }).strict();

export const diskStatusSchema = z
  .object({
    id: diskIdSchema,
    state: z.enum(['idle', 'initial-sync', 'replicating', 'resyncing', 'paused', 'error']),
    backlogBytes: z.number().int().min(0).optional(),
    lastSeq: z.number().int().min(0).optional(),
    generation: z.number().int().min(1).optional(),
    message: z.string().max(500).optional(),
  })
  .strict();

/**
 * What the agent reports of its own replication: bytes cut but not yet acknowledged by Event
 * Hubs (journal and spool), how fast it sends, and the RPO it can promise at that pace (backlog
 * ÷ send rate + the bookmark interval). The control plane alerts on it before the points age.
 */
export const agentReplicationReport = z
  .object({
    backlogBytes: z.number().int().min(0),
    sendBytesPerSecond: z.number().min(0),
    promisedRpoSeconds: z.number().min(0),
  })
  .strict();

export const heartbeatBody = z
  .object({
    agentVersion: z.string().min(1).max(64),
    disks: z.array(diskStatusSchema).max(MAX_DISKS_PER_MACHINE).default([]),
    /** The machine's IPv4 addresses, primary first (recovery keeps it where the subnet allows). */
    ipv4: z
      .array(z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/))
      .max(16)
      .optional(),
    replication: agentReplicationReport.optional(),
  })
  .strict();

export const protectBody = z
  .object({
    disks: z.array(diskIdSchema).min(1).max(MAX_DISKS_PER_MACHINE).optional(),
    policy: policyNameSchema.optional(),
  })
  .strict();

export const emptyBody = z.object({}).strict();

/** POST …/disks/{diskId}/resync (admin) and …/resync-request (the agent). */
export const resyncBody = z
  .object({
    reason: z.string().min(1).max(500).optional(),
    /** Same key → same answer (also accepted as the `Idempotency-Key` header). */
    idempotencyKey: z.string().min(1).max(100).optional(),
  })
  .strict();

export type CreateSiteBody = z.infer<typeof createSiteBody>;
export type CreateTokenBody = z.infer<typeof createTokenBody>;
export type DiskFacts = z.infer<typeof diskFactsSchema>;
export type EnrollBody = z.infer<typeof enrollBody>;
export type PolicyFields = z.infer<typeof policyFields>;
export type CreatePolicyBody = z.infer<typeof createPolicyBody>;
export type DiskStatus = z.infer<typeof diskStatusSchema>;
export type HeartbeatBody = z.infer<typeof heartbeatBody>;
export type AgentReplicationReport = z.infer<typeof agentReplicationReport>;
export type ProtectBody = z.infer<typeof protectBody>;
export type ResyncBody = z.infer<typeof resyncBody>;

/** Server-generated ids (machines, jobs): prefix-hex, no dots. */
export const resourceIdSchema = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'not a valid id');
