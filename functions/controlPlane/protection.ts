import { register } from './api';
import { jobResponse, protectResponse } from './responseSchemas';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { etagHeader } from '../http/etag';
import { protectBody, resourceIdSchema } from '../../core/controlPlane/schemas';
import { durableClientInput, launcherFor } from './durableLauncher';

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
    return {
      status: r.created ? 202 : 200,
      headers: { location: `/api/jobs/${r.job.id}`, etag: etagHeader(r.etag) },
      jsonBody: { item: r.item, job: r.job },
    };
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
