import { register } from '../controlPlane/api';
import { registerList } from '../controlPlane/listOperation';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { ifMatch, versioned } from '../http/etag';
import {
  addActionBody,
  createPlanBody,
  planBody,
  planNameSchema,
} from '../../core/plans/planSchema';
import type { Root } from '../../app/root';
import type { Versioned } from '../../core/documents/ports';
import type { PlanDoc } from '../../core/plans/model';
import { planResponse, planView } from './planResponses';

const tag = 'recovery-plans';
const nameOf = (req: Parameters<typeof param>[0]) => param(req, 'name', planNameSchema);

/** The plan with its run facts, redacted, with its ETag. */
async function reply(root: Root, v: Versioned<PlanDoc>, status = 200, headers = {}) {
  const run = await root.plans.service.runOf(v.doc.name);
  return versioned({ doc: planView(v.doc, run), etag: v.etag }, { status, headers });
}

export const createPlan = register(
  {
    name: 'createRecoveryPlan',
    method: 'POST',
    route: 'plans',
    caller: 'admin',
    tag,
    summary: 'Create a recovery plan: ordered groups of machines with pre/post actions',
    body: createPlanBody,
    response: planResponse,
    responses: { 201: 'Plan created', 409: 'Name taken' },
    etag: true,
  },
  handler(async (root, req) => {
    const body = await parseBody(req, createPlanBody, root.config.maxBodyBytes);
    const v = await root.plans.plans.create(body);
    return reply(root, v, 201, { location: `/api/plans/${v.doc.name}` });
  }),
);

export const listPlans = registerList(
  {
    name: 'listRecoveryPlans',
    route: 'plans',
    tag,
    summary: 'List recovery plans',
    item: planResponse,
    what: 'recovery plans',
  },
  async (root, page) => {
    const p = await root.plans.plans.list(page);
    return { ...p, items: p.items.map((x) => ({ ...x, doc: planView(x.doc) })) };
  },
);

export const getPlan = register(
  {
    name: 'getRecoveryPlan',
    method: 'GET',
    route: 'plans/{name}',
    caller: 'admin',
    tag,
    summary: 'Get a recovery plan (webhook secrets redacted) and what runs on it',
    response: planResponse,
    responses: { 200: 'The plan' },
    etag: true,
  },
  handler(async (root, req) => reply(root, await root.plans.plans.get(nameOf(req)))),
);

export const putPlan = register(
  {
    name: 'putRecoveryPlan',
    method: 'PUT',
    route: 'plans/{name}',
    caller: 'admin',
    tag,
    summary:
      'Create or replace a plan (If-Match for a conditional update; *** keeps a stored secret)',
    body: planBody,
    response: planResponse,
    responses: { 200: 'Plan stored' },
    etag: true,
  },
  handler(async (root, req) => {
    const name = nameOf(req);
    const body = await parseBody(req, planBody, root.config.maxBodyBytes);
    return reply(root, await root.plans.plans.put(name, body, ifMatch(req)));
  }),
);

export const deletePlan = register(
  {
    name: 'deleteRecoveryPlan',
    method: 'DELETE',
    route: 'plans/{name}',
    caller: 'admin',
    tag,
    summary: 'Delete a plan (not while an operation runs on it)',
    response: planResponse,
    responses: { 200: 'Deleted; the plan as it was', 409: 'An operation is running on it' },
    etag: true,
  },
  handler(async (root, req) => ({
    jsonBody: planView(await root.plans.plans.delete(nameOf(req), ifMatch(req))),
  })),
);

export const addPlanAction = register(
  {
    name: 'addRecoveryPlanAction',
    method: 'POST',
    route: 'plans/{name}/actions',
    caller: 'admin',
    tag,
    summary: 'Add a pre or post action to a group (webhook, manual, wait, health)',
    body: addActionBody,
    response: planResponse,
    responses: { 201: 'Added; the plan now' },
    etag: true,
  },
  handler(async (root, req) => {
    const name = nameOf(req);
    const body = await parseBody(req, addActionBody, root.config.maxBodyBytes);
    return reply(root, await root.plans.plans.addAction(name, body, ifMatch(req)), 201);
  }),
);
