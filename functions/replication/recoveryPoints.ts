import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
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
import { register, type Operation } from '../controlPlane/api';
import { param } from '../http/body';
import { callingMachine, handler, type Handler } from '../http/handler';
import { pageRequest, pageResponse } from '../http/paging';

/**
 * How long a read-url request drives a durable point's hydration before answering 503 (retry):
 * under the agent client's 30 s request timeout.
 */
const MATERIALIZE_WAIT_MS = 20_000;

/** Bookmark and disk ids follow the batch header's id rules. */
const batchIdSchema = z.string().regex(ID_PATTERN);

// Recovery points are read by the operator (admin routes: the host checks the function key, as
// for every admin route) and by the machine itself, its restore (the same operations under
// `machines/{id}/agent/`, Bearer machine credential). Two routes rather than one route taking
// either: the app never checks an admin key of its own.

type PointBody = (
  root: Root,
  req: HttpRequest,
  machineId: string,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

/** Registers `op` for the operator and, under `machines/{id}/agent/`, for the machine. */
function adminAndMachine(
  op: Omit<Operation, 'caller'>,
  body: PointBody,
): { admin: Handler; machine: Handler } {
  const admin = register(
    { ...op, caller: 'admin' },
    handler(async (root, req, context) => {
      const machineId = param(req, 'id', resourceIdSchema);
      await root.controlPlane.machines.getDoc(machineId); // 404 if unknown
      return body(root, req, machineId, context);
    }),
  );
  const machine = register(
    {
      ...op,
      name: `agent${op.name[0]!.toUpperCase()}${op.name.slice(1)}`,
      route: op.route.replace(/^machines\/\{id\}\//, 'machines/{id}/agent/'),
      caller: 'machine',
      summary: `${op.summary} (the machine itself)`,
    },
    handler(async (root, req, context) =>
      body(root, req, await callingMachine(root, req), context),
    ),
  );
  return { admin, machine };
}

const list = adminAndMachine(
  {
    name: 'listRecoveryPoints',
    method: 'GET',
    route: 'machines/{id}/recovery-points',
    tag: 'recovery-points',
    summary: 'Recovery points of a machine, newest first',
    query: { limit: 'Page size', continuation: 'Token from the previous page' },
    responses: { 200: 'A page of recovery points' },
  },
  async (root, req, machineId) =>
    pageResponse(req, await listRecoveryPoints(root.replication.deps, machineId, pageRequest(req))),
);
export const listPoints = list.admin;
export const agentListPoints = list.machine;

const get = adminAndMachine(
  {
    name: 'getRecoveryPoint',
    method: 'GET',
    route: 'machines/{id}/recovery-points/{pointId}',
    tag: 'recovery-points',
    summary:
      'One recovery point (404 until durable: every disk stored its batches up to the bookmark; `materialized` once hydrated)',
    responses: { 200: 'The recovery point' },
  },
  async (root, req, machineId) => {
    const pointId = param(req, 'pointId', batchIdSchema);
    return { jsonBody: await getRecoveryPoint(root.replication.deps, machineId, pointId) };
  },
);
export const getPoint = get.admin;
export const agentGetPoint = get.machine;

const readUrl = adminAndMachine(
  {
    name: 'getRecoveryPointReadUrl',
    method: 'GET',
    route: 'machines/{id}/recovery-points/{pointId}/disks/{diskId}/read-url',
    tag: 'recovery-points',
    summary:
      "Short-lived read-only SAS URL of one disk's snapshot (a fixed VHD: strip the 512-byte footer); a durable point is materialized first (bounded wait, then 503: retry)",
    responses: { 200: '{ url, expiresAt, sizeBytes, sha256, snapshot }' },
    // A point materialized here may be the one a waiting saga needs (initial sync, resync).
    extraInputs: [hydrateDurableClient],
  },
  async (root, req, machineId, context) => {
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
  },
);
export const pointReadUrl = readUrl.admin;
export const agentPointReadUrl = readUrl.machine;
