import { register } from './api';
import { jobResponse, protectResponse } from './responseSchemas';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { etagHeader } from '../http/etag';
import { emptyBody, protectBody, resourceIdSchema } from '../../core/controlPlane/schemas';
import type { JobDoc, ProtectedItemDoc } from '../../core/controlPlane/model';
import { cancellerFor, durableClientInput, launcherFor } from './durableLauncher';

/** The item and the job driving it; `Location` points at the job to follow. */
const itemAndJob = (status: number, r: { item: ProtectedItemDoc; etag: string; job: JobDoc }) => ({
  status,
  headers: { location: `/api/jobs/${r.job.id}`, etag: etagHeader(r.etag) },
  jsonBody: { item: r.item, job: r.job },
});

export const protect = register(
  {
    name: 'protectMachine',
    method: 'POST',
    route: 'machines/{id}/protect',
    caller: 'admin',
    tag: 'protection',
    summary: 'Enable protection (all or some disks, a policy); idempotent for the same request',
    body: protectBody,
    response: protectResponse,
    responses: {
      202: 'Protection enabling; follow the job',
      200: 'Already protected with these settings',
    },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = param(req, 'id', resourceIdSchema);
    const body = await parseBody(req, protectBody, root.config.maxBodyBytes);
    const r = await root.controlPlane.protection.protect(id, body, launcherFor(context));
    return itemAndJob(r.created ? 202 : 200, r);
  }),
);

export const disableProtection = register(
  {
    name: 'disableProtection',
    method: 'POST',
    route: 'machines/{id}/disable-protection',
    caller: 'admin',
    tag: 'protection',
    summary:
      'Disable protection: cancels a running enable saga (its compensations run) or disables the item; idempotent',
    body: emptyBody,
    response: protectResponse,
    responses: {
      202: 'Disabling (the enable saga is compensating); follow the job',
      200: 'Disabled',
      409: 'Not protected, or in a state that cannot be disabled (e.g. failing over)',
    },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = param(req, 'id', resourceIdSchema);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    const r = await root.controlPlane.protection.disable(id, cancellerFor(context));
    return itemAndJob(r.done ? 200 : 202, r);
  }),
);

export const getJob = register(
  {
    name: 'getJob',
    method: 'GET',
    route: 'jobs/{id}',
    caller: 'admin',
    tag: 'jobs',
    summary: 'Get a job',
    response: jobResponse,
    responses: { 200: 'The job' },
  },
  handler(async (root, req) => ({
    jsonBody: await root.controlPlane.jobs.get(param(req, 'id', resourceIdSchema)),
  })),
);
