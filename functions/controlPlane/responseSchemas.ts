import { z } from 'zod';
import { protectedItemStates } from '../../core/controlPlane/protectedItemState';
import {
  agentReplicationReport,
  diskStatusSchema,
  policyFields,
  thinningRule,
} from '../../core/controlPlane/schemas';

/** Response shapes of the control-plane API, for the OpenAPI document (and contract tests). */

const time = z.string().describe('ISO 8601 UTC time');

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), continuation: z.string().optional() });

export const siteResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  createdAt: time,
});

export const issuedTokenResponse = z.object({
  id: z.string(),
  siteId: z.string(),
  token: z.string().describe('hvt.<id>.<secret>, shown once'),
  expiresAt: time,
});

export const enrollmentResponse = z.object({
  machineId: z.string(),
  siteId: z.string(),
  credential: z.string().describe('hvm.<machineId>.<secret>, shown once'),
  dataKey: z.object({
    keyId: z.string(),
    key: z.string().describe('base64, 32 bytes, shown once'),
  }),
  replaced: z
    .object({
      previousKeys: z.array(z.object({ keyId: z.string(), key: z.string() })),
    })
    .optional()
    .describe('a replacement token was redeemed: this agent took over the machine'),
});

export const policyResponse = policyFields.extend({
  id: z.string(),
  name: z.string(),
  thinning: z.array(thinningRule),
  createdAt: time,
  updatedAt: time,
});

export const machineResponse = z.object({
  id: z.string(),
  siteId: z.string(),
  hostname: z.string(),
  os: z.string(),
  agentVersion: z.string().optional(),
  enrolledAt: time,
  keyId: z.string(),
  lastHeartbeatAt: time.optional(),
  revokedAt: time.optional(),
  keyRotationRequestedAt: time.optional(),
  replacedAt: time
    .optional()
    .describe('last time a new agent took over this machine (replacement token)'),
});

export const diskResponse = z.object({
  id: z.string(),
  sizeBytes: z.number().int(),
  logicalSectorSize: z.number().int(),
  addedAt: time,
  generation: z
    .number()
    .int()
    .describe('Generation the agent replicates (a resync starts the next)'),
  resync: z
    .object({
      generation: z.number().int(),
      requestedAt: time,
      requestedBy: z.enum(['admin', 'agent', 'resize', 'auto']),
      reason: z.string().optional(),
      jobId: z.string().optional(),
      idempotencyKey: z.string().optional(),
      previousSizeBytes: z.number().int().optional(),
      completedAt: time.optional().describe('Absent while resyncing'),
    })
    .optional(),
  appliedSeq: z.number().int().optional().describe("The agent's listing: the cloud's watermark"),
  stagedSeq: z
    .number()
    .int()
    .optional()
    .describe(
      "The agent's listing: every batch of the generation up to this seq is stored in Azure (the agent sends again one it sent past it that does not arrive)",
    ),
  stagedAhead: z
    .array(z.number().int())
    .optional()
    .describe(
      "The agent's listing: seqs stored past stagedSeq (the ones missing before them are lost on the way)",
    ),
  seed: z
    .object({ generation: z.number().int(), digest: z.string(), jobId: z.string() })
    .optional()
    .describe(
      'Re-enable after failback: the generation whose replica starts as the disk at failback',
    ),
});

export const machineDetailResponse = machineResponse.extend({
  disks: z.array(diskResponse),
  heartbeat: z
    .object({
      agentVersion: z.string(),
      at: time,
      disks: z.array(diskStatusSchema),
      ipv4: z.array(z.string()).optional(),
      replication: agentReplicationReport.optional(),
    })
    .nullable(),
  health: z
    .object({
      rpoSeconds: z.number().nullable(),
      churnBytesPerSecond: z.number().nullable(),
      backlogBytes: z.number().nullable(),
      lastPoint: z
        .object({ id: z.string(), at: time, consistency: z.enum(['crash', 'app']) })
        .nullable(),
      errors: z.array(
        z.object({
          at: time,
          kind: z.string(),
          message: z.string(),
          diskId: z.string().optional(),
        }),
      ),
      updatedAt: time.nullable(),
    })
    .loose(),
  protection: z
    .object({
      state: z.enum(protectedItemStates),
      disks: z.array(z.string()),
      policy: z.string(),
      jobId: z.string(),
    })
    .nullable(),
  recovery: z
    .object({
      testFailover: z
        .object({ jobId: z.string(), state: z.string(), expiresAt: time, expired: z.boolean() })
        .nullable(),
      failover: z.object({ jobId: z.string(), pointId: z.string().nullable() }).nullable(),
    })
    .optional(),
});

export const jobResponse = z.object({
  id: z.string(),
  type: z.string(),
  state: z.enum([
    'queued',
    'running',
    'waiting-for-manual-action',
    'succeeded',
    'partially-succeeded',
    'failed',
    'cancelled',
  ]),
  instanceId: z.string().describe('Durable orchestration instance id (= job id)'),
  machineId: z.string().optional(),
  progress: z.object({ percent: z.number(), step: z.string().optional() }).loose(),
  createdAt: time,
  updatedAt: time,
  error: z.object({ kind: z.string(), message: z.string() }).optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  steps: z
    .array(
      z.object({
        name: z.string(),
        state: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'compensated']),
        startedAt: time.optional(),
        endedAt: time.optional(),
        detail: z.string().optional(),
      }),
    )
    .optional(),
  allowedActions: z.array(z.string()).optional(),
  startedBy: z.string().optional(),
  parentJobId: z.string().optional(),
  idempotencyKey: z.string().optional(),
});

export const protectedItemResponse = z.object({
  id: z.string(),
  machineId: z.string(),
  siteId: z.string(),
  state: z.enum(protectedItemStates),
  disks: z.array(z.string()),
  policy: z.string(),
  jobId: z.string(),
  createdAt: time,
  updatedAt: time,
  history: z.array(
    z.object({
      from: z.enum(protectedItemStates).nullable(),
      to: z.enum(protectedItemStates),
      at: time,
      reason: z.string().optional(),
      jobId: z.string().optional(),
    }),
  ),
});

export const protectResponse = z.object({ item: protectedItemResponse, job: jobResponse });

export const resyncResponse = z.object({
  disk: diskResponse,
  job: jobResponse.nullable(),
  item: protectedItemResponse.nullable(),
  created: z.boolean(),
});

export const heartbeatResponse = z.object({
  receivedAt: time,
  /** An admin asked for a new data key: the agent takes it with POST machines/{id}/data-key. */
  rotateKey: z.boolean(),
  protection: z
    .object({
      state: z.enum(protectedItemStates),
      disks: z.array(z.string()),
      policy: z.string(),
      crashIntervalSeconds: z.number().int(),
      appIntervalSeconds: z.number().int(),
    })
    .nullable(),
});

export const ingestCredentialsResponse = z.object({
  eventHubs: z.object({
    endpoint: z.string(),
    hub: z.string(),
    publisher: z.string(),
    resourceUri: z.string(),
    sasToken: z.string(),
    expiresAt: time,
    useDevelopmentEmulator: z.boolean().optional(),
  }),
  blob: z.object({
    containerUrl: z.string(),
    container: z.string(),
    prefix: z.string(),
    sas: z.string(),
    permissions: z.string(),
    expiresAt: time,
  }),
});

export const healthResponse = z.object({
  status: z.enum(['ok', 'degraded']),
  checkedAt: time,
  dependencies: z.array(
    z.object({
      name: z.string(),
      status: z.enum(['ok', 'failed']),
      latencyMs: z.number(),
      detail: z.string().optional(),
    }),
  ),
});
