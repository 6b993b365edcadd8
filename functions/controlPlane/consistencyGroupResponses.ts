import { z } from 'zod';

/** Response shapes of the consistency-group API (OpenAPI document and contract tests). */

const time = z.string().describe('ISO 8601 UTC time');
const consistency = z.enum(['crash', 'app']);

export const groupResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  members: z.array(z.object({ machineId: z.string(), joinedAt: time })),
  createdAt: time,
  updatedAt: time,
});

export const groupBookmarkResponse = z.object({
  id: z.string().describe('Bookmark id: each member publishes a recovery point with this id'),
  groupId: z.string(),
  members: z.array(z.string()).describe('Members at cut time'),
  consistency,
  createdAt: time,
  cutAt: time.optional().describe("When every member inserts it (the control plane's clock)"),
  holdMs: z.number().optional().describe('New writes held this long after the cut'),
});

export const groupRecoveryPointResponse = z.object({
  id: z.string(),
  groupId: z.string(),
  time,
  consistency,
  state: z.enum(['complete', 'pending', 'expired']),
  barrier: z
    .boolean()
    .describe('Every member held its writes at the cut: consistent across the machines'),
  members: z.array(z.string()),
  missing: z.array(z.string()).describe('Members at cut time without their point yet'),
  machines: z
    .array(z.object({ id: z.string(), machineId: z.string() }).loose())
    .describe("Each member's recovery point (when complete)"),
});

export const pendingCutsResponse = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      groupId: z.string(),
      consistency,
      createdAt: time,
      cutAt: time.optional(),
      holdMs: z.number().optional(),
    }),
  ),
  now: time.describe("The control plane's clock when it answered (agents align cutAt to it)"),
});
