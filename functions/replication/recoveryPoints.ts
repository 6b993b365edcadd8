import { timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import type { Root } from '../../app/root';
import { z } from 'zod';
import { ID_PATTERN } from '../../core/batch';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import {
  getRecoveryPoint,
  listRecoveryPoints,
  recoveryPointReadUrl,
} from '../../core/replication/recoveryPoints';
import { waitMaterialized } from '../../core/replication/materialize';
import { hydrateDurableClient, signalsFor } from './protectionSignals';
import { register } from '../controlPlane/api';
import { param } from '../http/body';
import { authenticateMachine, handler } from '../http/handler';
import { pageRequest, pageResponse } from '../http/paging';

/**
 * How long a read-url request drives a durable point's hydration before answering 503 (retry):
 * under the agent client's 30 s request timeout.
 */
const MATERIALIZE_WAIT_MS = 20_000;

/** Bookmark and disk ids follow the batch header's id rules. */
const batchIdSchema = z.string().regex(ID_PATTERN);

// Recovery points: the machine itself (Bearer credential; its restore reads them) or an admin
// (function key) may read them. The route is anonymous for the host; both are checked here.

function isAdmin(root: Root, req: HttpRequest): boolean {
  const given = req.headers.get('x-functions-key') ?? req.query.get('code');
  const want = root.config.adminKey;
  if (!given || !want) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function authorize(root: Root, req: HttpRequest): Promise<string> {
  const machineId = param(req, 'id', resourceIdSchema);
  if (isAdmin(root, req))
    await root.controlPlane.machines.getDoc(machineId); // 404 if unknown
  else await authenticateMachine(root, req, machineId);
  return machineId;
}

export const listPoints = register(
  {
    name: 'listRecoveryPoints',
    method: 'GET',
    route: 'machines/{id}/recovery-points',
    caller: 'machine',
    tag: 'recovery-points',
    summary: 'Recovery points of a machine, newest first (machine credential or admin key)',
    query: { limit: 'Page size', continuation: 'Token from the previous page' },
    responses: { 200: 'A page of recovery points' },
  },
  handler(async (root, req) => {
    const machineId = await authorize(root, req);
    return pageResponse(
      req,
      await listRecoveryPoints(root.replication.deps, machineId, pageRequest(req)),
    );
  }),
);

export const getPoint = register(
  {
    name: 'getRecoveryPoint',
    method: 'GET',
    route: 'machines/{id}/recovery-points/{pointId}',
    caller: 'machine',
    tag: 'recovery-points',
    summary:
      'One recovery point (404 until durable: every disk stored its batches up to the bookmark; `materialized` once hydrated)',
    responses: { 200: 'The recovery point' },
  },
  handler(async (root, req) => {
    const machineId = await authorize(root, req);
    const pointId = param(req, 'pointId', batchIdSchema);
    return { jsonBody: await getRecoveryPoint(root.replication.deps, machineId, pointId) };
  }),
);

export const pointReadUrl = register(
  {
    name: 'getRecoveryPointReadUrl',
    method: 'GET',
    route: 'machines/{id}/recovery-points/{pointId}/disks/{diskId}/read-url',
    caller: 'machine',
    tag: 'recovery-points',
    summary:
      "Short-lived read-only SAS URL of one disk's snapshot (a fixed VHD: strip the 512-byte footer); a durable point is materialized first (bounded wait, then 503: retry)",
    responses: { 200: '{ url, expiresAt, sizeBytes, sha256, snapshot }' },
    // A point materialized here may be the one a waiting saga needs (initial sync, resync).
    extraInputs: [hydrateDurableClient],
  },
  handler(async (root, req, context) => {
    const machineId = await authorize(root, req);
    const pointId = param(req, 'pointId', batchIdSchema);
    const diskId = param(req, 'diskId', batchIdSchema);
    const { deps, options } = root.replication;
    // Restoring a point that is durable but not hydrated yet drives its hydration here (RTO,
    // not RPO); past the wait the answer is a retryable 503 and the hydration goes on.
    await waitMaterialized(deps, options, machineId, pointId, {
      timeoutMs: MATERIALIZE_WAIT_MS,
      signals: signalsFor(root, context),
    });
    const link = await recoveryPointReadUrl(
      deps,
      machineId,
      pointId,
      diskId,
      options.readUrlSeconds,
    );
    return { headers: { 'cache-control': 'no-store' }, jsonBody: link };
  }),
);
