import { z } from 'zod';
import { register } from './api';
import { issuedTokenResponse, machineResponse } from './responseSchemas';
import { callingMachine, handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { createTokenBody, emptyBody, resourceIdSchema } from '../../core/controlPlane/schemas';
import { toMachineView } from '../../core/controlPlane/machines';
import { purgeIncoming } from '../../core/replication/purgeIncoming';
import { isHavenError } from '../../core/errors';

/** Revoking, deleting and re-keying machines; revoking enrollment tokens (docs/security.md). */
const deletedResponse = z.object({ id: z.string(), deleted: z.array(z.string()) });
const dataKeyResponse = z.object({ keyId: z.string(), dataKey: z.string() });
const revokedTokenResponse = z.object({ id: z.string(), revokedAt: z.string() });

export const revokeMachine = register(
  {
    name: 'revokeMachine',
    method: 'POST',
    route: 'machines/{id}/revoke',
    caller: 'admin',
    tag: 'machines',
    summary: 'Revoke a machine: its credential stops working at once; its batches are refused',
    body: emptyBody,
    response: machineResponse,
    responses: { 200: 'Revoked (idempotent)' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    return { jsonBody: toMachineView(await root.controlPlane.machineAccess.revoke(id)) };
  }),
);

export const deleteMachine = register(
  {
    name: 'deleteMachine',
    method: 'DELETE',
    route: 'machines/{id}',
    caller: 'admin',
    tag: 'machines',
    summary: 'Delete a machine that is not protected (says what it removed)',
    response: deletedResponse,
    responses: { 200: 'Deleted', 409: 'Still protected: disable protection first' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const blobs = root.replication.deps.blobs;
    // After the documents: a refused (still protected) delete keeps its claim checks. A delete
    // that failed while purging is retried: the machine is gone (404), its container is not.
    const removed = await root.controlPlane.machineAccess.delete(id).catch(async (e: unknown) => {
      if (isHavenError(e) && e.kind === 'not-found') await purgeIncoming(blobs, id);
      throw e;
    });
    const claimChecks = await purgeIncoming(blobs, id);
    return {
      jsonBody: claimChecks
        ? { ...removed, deleted: [...removed.deleted, `${claimChecks} claim check(s)`] }
        : removed,
    };
  }),
);

export const requestKeyRotation = register(
  {
    name: 'rotateMachineKey',
    method: 'POST',
    route: 'machines/{id}/rotate-key',
    caller: 'admin',
    tag: 'machines',
    summary:
      'Ask for a new data key: the agent takes it on its next heartbeat; old points stay readable',
    body: emptyBody,
    response: machineResponse,
    responses: { 202: 'Requested' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    const m = await root.controlPlane.machineAccess.requestKeyRotation(id);
    return { status: 202, jsonBody: toMachineView(m) };
  }),
);

export const takeDataKey = register(
  {
    name: 'takeMachineDataKey',
    method: 'POST',
    route: 'machines/{id}/data-key',
    caller: 'machine',
    tag: 'agent',
    summary: 'The machine takes a new data key (returned once); new batches use its keyId',
    body: emptyBody,
    response: dataKeyResponse,
    responses: { 201: 'A new current data key', 409: 'No rotation requested by an admin' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    const key = await root.controlPlane.machineAccess.rotateKey(id);
    return { status: 201, headers: { 'cache-control': 'no-store' }, jsonBody: key };
  }),
);

export const createReplacementToken = register(
  {
    name: 'createReplacementToken',
    method: 'POST',
    route: 'machines/{id}/replacement-token',
    caller: 'admin',
    tag: 'enrollment',
    summary:
      'Issue a one-time token that lets a new agent take over this machine (new hardware, lost agent state)',
    body: createTokenBody,
    response: issuedTokenResponse.extend({ replaces: z.string() }),
    responses: { 201: 'Token issued (returned once)' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const body = await parseBody(req, createTokenBody, root.config.maxBodyBytes);
    const token = await root.controlPlane.enrollment.issueReplacementToken(id, body);
    return { status: 201, headers: { 'cache-control': 'no-store' }, jsonBody: token };
  }),
);

export const revokeEnrollmentToken = register(
  {
    name: 'revokeEnrollmentToken',
    method: 'POST',
    route: 'enrollment-tokens/{id}/revoke',
    caller: 'admin',
    tag: 'enrollment',
    summary: 'Revoke an unused enrollment token',
    body: emptyBody,
    response: revokedTokenResponse,
    responses: { 200: 'Revoked (idempotent)', 409: 'Already used' },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    return { jsonBody: await root.controlPlane.enrollment.revokeToken(id) };
  }),
);
