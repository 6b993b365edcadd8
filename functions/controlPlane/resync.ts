import type { HttpRequest } from '@azure/functions';
import { register } from './api';
import { resyncResponse } from './responseSchemas';
import { callingMachine, handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { diskIdSchema, resourceIdSchema, resyncBody } from '../../core/controlPlane/schemas';
import type { ResyncResult } from '../../core/controlPlane/resyncs';
import type { Root } from '../../app/root';
import { durableClientInput, launcherFor } from './durableLauncher';

/** Both routes: 202 with `Location` of the job when a generation started, 200 for an earlier answer. */
const reply = (r: ResyncResult) => ({
  status: r.created ? 202 : 200,
  ...(r.job ? { headers: { location: `/api/jobs/${r.job.id}` } } : {}),
  jsonBody: r,
});

const bodyOf = async (root: Root, req: HttpRequest) => {
  const body = await parseBody(req, resyncBody, root.config.maxBodyBytes);
  const key = req.headers.get('idempotency-key') ?? body.idempotencyKey;
  return { ...body, ...(key ? { idempotencyKey: key } : {}) };
};

const responses = {
  202: 'A new generation started; follow the job',
  200: 'Already resyncing (pending generation, or the same idempotency key)',
  409: 'The disk is not replicating (not protected, or in a state that cannot resync)',
};

export const resyncDisk = register(
  {
    name: 'resyncDisk',
    method: 'POST',
    route: 'machines/{id}/disks/{diskId}/resync',
    caller: 'admin',
    tag: 'protection',
    summary:
      'Resync a disk: its next generation replicates into a fresh replica; older points stay',
    body: resyncBody,
    response: resyncResponse,
    responses,
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = param(req, 'id', resourceIdSchema);
    const diskId = param(req, 'diskId', diskIdSchema);
    const body = await bodyOf(root, req);
    const r = await root.controlPlane.resyncs.request(
      id,
      diskId,
      { ...body, requestedBy: 'admin' },
      launcherFor(context),
    );
    return reply(r);
  }),
);

export const requestResync = register(
  {
    name: 'machineRequestResync',
    method: 'POST',
    route: 'machines/{id}/disks/{diskId}/resync-request',
    caller: 'machine',
    tag: 'agent',
    summary: 'The agent lost its tracking state of a disk: resync it (new generation)',
    body: resyncBody,
    response: resyncResponse,
    responses,
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = await callingMachine(root, req);
    const diskId = param(req, 'diskId', diskIdSchema);
    const body = await bodyOf(root, req);
    const r = await root.controlPlane.resyncs.request(
      id,
      diskId,
      { ...body, requestedBy: 'agent' },
      launcherFor(context),
    );
    return reply(r);
  }),
);
