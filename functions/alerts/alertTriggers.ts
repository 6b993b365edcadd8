import { register } from '../controlPlane/api';
import { registerList } from '../controlPlane/listOperation';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { ifMatch, versioned } from '../http/etag';
import { createTriggerBody, triggerBody, triggerNameSchema } from '../../core/alerts/triggerSchema';
import { triggerResponse } from './alertResponses';

const tag = 'alerts';
const nameOf = (req: Parameters<typeof param>[0]) => param(req, 'name', triggerNameSchema);

export const createTrigger = register(
  {
    name: 'createAlertTrigger',
    method: 'POST',
    route: 'alert-triggers',
    caller: 'admin',
    tag,
    summary:
      'Create an alert trigger: which alerts start which operation on which plan, and its guards',
    body: createTriggerBody,
    response: triggerResponse,
    responses: { 201: 'Trigger created', 409: 'Name taken' },
    etag: true,
  },
  handler(async (root, req) => {
    const body = await parseBody(req, createTriggerBody, root.config.maxBodyBytes);
    const v = await root.alerts.triggers.create(body);
    return versioned(v, {
      status: 201,
      headers: { location: `/api/alert-triggers/${v.doc.name}` },
    });
  }),
);

export const listTriggers = registerList(
  {
    name: 'listAlertTriggers',
    route: 'alert-triggers',
    tag,
    summary: 'List alert triggers',
    item: triggerResponse,
    what: 'alert triggers',
  },
  (root, page) => root.alerts.triggers.list(page),
);

export const getTrigger = register(
  {
    name: 'getAlertTrigger',
    method: 'GET',
    route: 'alert-triggers/{name}',
    caller: 'admin',
    tag,
    summary: 'Get an alert trigger',
    response: triggerResponse,
    responses: { 200: 'The trigger' },
    etag: true,
  },
  handler(async (root, req) => versioned(await root.alerts.triggers.get(nameOf(req)))),
);

export const putTrigger = register(
  {
    name: 'putAlertTrigger',
    method: 'PUT',
    route: 'alert-triggers/{name}',
    caller: 'admin',
    tag,
    summary: 'Create or replace an alert trigger (If-Match for a conditional update)',
    body: triggerBody,
    response: triggerResponse,
    responses: { 200: 'Trigger stored' },
    etag: true,
  },
  handler(async (root, req) => {
    const name = nameOf(req);
    const body = await parseBody(req, triggerBody, root.config.maxBodyBytes);
    return versioned(await root.alerts.triggers.put(name, body, ifMatch(req)));
  }),
);

export const deleteTrigger = register(
  {
    name: 'deleteAlertTrigger',
    method: 'DELETE',
    route: 'alert-triggers/{name}',
    caller: 'admin',
    tag,
    summary: 'Delete an alert trigger (a decision it opened runs to its end)',
    response: triggerResponse,
    responses: { 200: 'Deleted; the trigger as it was' },
    etag: true,
  },
  handler(async (root, req) => ({
    jsonBody: await root.alerts.triggers.delete(nameOf(req), ifMatch(req)),
  })),
);
