import { z } from 'zod';
import {
  MAX_REPAIR_RANGES,
  failbackPlan,
  reportApplied,
  requestRepair,
} from '../../core/failback/failbackRecord';
import { register } from '../controlPlane/api';
import { parseBody } from '../http/body';
import { callingMachine, handler } from '../http/handler';

/**
 * The site agent's side of failback: its plan (the reverse batches to apply, each with a
 * short read-only URL of its own out- container; no storage key), its report of the site
 * disk's digest after the last batch, and the blocks it still finds different (a repair).
 */
export const machineFailbackPlan = register(
  {
    name: 'machineFailbackPlan',
    method: 'GET',
    route: 'machines/{id}/agent/failback',
    caller: 'machine',
    tag: 'agent',
    summary:
      'The failback plan: per disk the failover point digest, the reverse batches with read URLs, the expected digest and whether the final diff is listed',
    responses: { 200: '{ disks: [...] }', 404: 'No failback session' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    const plan = await failbackPlan(
      { records: root.recovery.records, blobs: root.replication.deps.blobs },
      id,
      root.replication.options.readUrlSeconds,
    );
    return { headers: { 'cache-control': 'no-store' }, jsonBody: plan };
  }),
);

const appliedBody = z
  .object({
    diskId: z.string().min(1).max(200),
    session: z.number().int().min(1),
    seq: z.number().int().min(0),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const machineFailbackApplied = register(
  {
    name: 'machineFailbackApplied',
    method: 'POST',
    route: 'machines/{id}/agent/failback/applied',
    caller: 'machine',
    tag: 'agent',
    summary:
      "The agent applied the reverse batches up to seq; accepted only when that ends the final diff and the digest is the Azure disk's",
    body: appliedBody,
    responses: { 200: '{ accepted, expectedDigest }', 409: 'Not the current session' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    const body = await parseBody(req, appliedBody, root.config.maxBodyBytes);
    const r = await reportApplied(
      root.recovery.records,
      id,
      body,
      new Date(root.clock()).toISOString(),
    );
    return { jsonBody: r };
  }),
);

const repairBody = z
  .object({
    diskId: z.string().min(1).max(200),
    session: z.number().int().min(1),
    ranges: z
      .array(
        z
          .object({
            offset: z.number().int().min(0),
            length: z.number().int().min(1),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_REPAIR_RANGES),
  })
  .strict();

export const machineFailbackRepair = register(
  {
    name: 'machineFailbackRepair',
    method: 'POST',
    route: 'machines/{id}/agent/failback/repair',
    caller: 'machine',
    tag: 'agent',
    summary:
      'After the final diff the site disk still differs in these 64 KiB blocks: the failback ships them again from the final snapshot',
    body: repairBody,
    responses: {
      202: '{ n }: the repair round; new batches follow in the plan',
      409: 'Not the current session, no final diff, or the repair rounds ran out',
    },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    const body = await parseBody(req, repairBody, root.config.maxBodyBytes);
    const r = await requestRepair(
      root.recovery.records,
      id,
      body,
      new Date(root.clock()).toISOString(),
    );
    return { status: 202, jsonBody: r };
  }),
);
