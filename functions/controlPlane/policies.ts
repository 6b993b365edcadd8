import { register } from './api';
import { registerList } from './listOperation';
import { policyResponse } from './responseSchemas';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { ifMatch, versioned } from '../http/etag';
import { createPolicyBody, policyFields, policyNameSchema } from '../../core/controlPlane/schemas';

export const createPolicy = register(
  {
    name: 'createPolicy',
    method: 'POST',
    route: 'policies',
    caller: 'admin',
    tag: 'policies',
    summary: 'Create a replication policy',
    body: createPolicyBody,
    response: policyResponse,
    responses: { 201: 'Policy created' },
    etag: true,
  },
  handler(async (root, req) => {
    const body = await parseBody(req, createPolicyBody, root.config.maxBodyBytes);
    const created = await root.controlPlane.policies.create(body);
    return versioned(created, {
      status: 201,
      headers: { location: `/api/policies/${created.doc.name}` },
    });
  }),
);

export const listPolicies = registerList(
  {
    name: 'listPolicies',
    route: 'policies',
    tag: 'policies',
    summary: 'List replication policies',
    item: policyResponse,
    what: 'policies',
  },
  (root, page) => root.controlPlane.policies.list(page),
);

export const getPolicy = register(
  {
    name: 'getPolicy',
    method: 'GET',
    route: 'policies/{name}',
    caller: 'admin',
    tag: 'policies',
    summary: 'Get a replication policy',
    response: policyResponse,
    responses: { 200: 'The policy' },
    etag: true,
  },
  handler(async (root, req) =>
    versioned(await root.controlPlane.policies.get(param(req, 'name', policyNameSchema))),
  ),
);

export const putPolicy = register(
  {
    name: 'putPolicy',
    method: 'PUT',
    route: 'policies/{name}',
    caller: 'admin',
    tag: 'policies',
    summary: 'Create or replace a policy (If-Match for a conditional update)',
    body: policyFields,
    response: policyResponse,
    responses: { 200: 'Policy stored' },
    etag: true,
  },
  handler(async (root, req) => {
    const name = param(req, 'name', policyNameSchema);
    const body = await parseBody(req, policyFields, root.config.maxBodyBytes);
    return versioned(await root.controlPlane.policies.put(name, body, ifMatch(req)));
  }),
);
