import { register } from './api';
import {
  groupBookmarkResponse,
  groupRecoveryPointResponse,
  groupResponse,
  pendingCutsResponse,
} from './consistencyGroupResponses';
import { pageOf } from './responseSchemas';
import { callingMachine, handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { pageRequest, pageResponse, pagingQuery } from '../http/paging';
import { ID_PATTERN } from '../../core/batch';
import { GROUP_CUT_TTL_MS } from '../../core/controlPlane/groupModel';
import {
  createGroupBody,
  groupBookmarkBody,
  groupIdSchema,
} from '../../core/controlPlane/groupSchemas';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import { cutsToInsert, groupRecoveryPoint } from '../../core/replication/groupPoints';
import { validation } from '../../core/errors';
import { z } from 'zod';

const tag = 'consistency-groups';
const pointIdSchema = z.string().regex(ID_PATTERN);
const groupOf = (req: Parameters<typeof param>[0]) => param(req, 'groupId', groupIdSchema);

export const createGroup = register(
  {
    name: 'createConsistencyGroup',
    method: 'POST',
    route: 'consistency-groups',
    caller: 'admin',
    tag,
    summary: 'Create a consistency group (optionally with members; a machine is in at most one)',
    body: createGroupBody,
    response: groupResponse,
    responses: { 201: 'Group created', 409: 'Name taken, or a member is in another group' },
  },
  handler(async (root, req) => {
    const body = await parseBody(req, createGroupBody, root.config.maxBodyBytes);
    const g = await root.controlPlane.groups.create(body);
    return { status: 201, headers: { location: `/api/consistency-groups/${g.id}` }, jsonBody: g };
  }),
);

export const listGroups = register(
  {
    name: 'listConsistencyGroups',
    method: 'GET',
    route: 'consistency-groups',
    caller: 'admin',
    tag,
    summary: 'List consistency groups with their members',
    query: pagingQuery,
    response: pageOf(groupResponse),
    responses: { 200: 'A page of groups' },
  },
  handler(async (root, req) =>
    pageResponse(req, await root.controlPlane.groups.list(pageRequest(req))),
  ),
);

export const getGroup = register(
  {
    name: 'getConsistencyGroup',
    method: 'GET',
    route: 'consistency-groups/{groupId}',
    caller: 'admin',
    tag,
    summary: 'Get a consistency group with its members',
    response: groupResponse,
    responses: { 200: 'The group' },
  },
  handler(async (root, req) => ({ jsonBody: await root.controlPlane.groups.get(groupOf(req)) })),
);

export const deleteGroup = register(
  {
    name: 'deleteConsistencyGroup',
    method: 'DELETE',
    route: 'consistency-groups/{groupId}',
    caller: 'admin',
    tag,
    summary: "Delete a group: frees its members, forgets its cuts (members' own points stay)",
    response: groupResponse,
    responses: { 200: 'Deleted; the group as it was' },
  },
  handler(async (root, req) => ({ jsonBody: await root.controlPlane.groups.delete(groupOf(req)) })),
);

export const addMember = register(
  {
    name: 'addConsistencyGroupMember',
    method: 'PUT',
    route: 'consistency-groups/{groupId}/members/{machineId}',
    caller: 'admin',
    tag,
    summary: 'Add a machine to the group (later cuts include it); idempotent',
    response: groupResponse,
    responses: { 201: 'Added', 200: 'Already a member', 409: 'The machine is in another group' },
  },
  handler(async (root, req) => {
    const machineId = param(req, 'machineId', resourceIdSchema);
    const r = await root.controlPlane.groups.addMember(groupOf(req), machineId);
    return { status: r.added ? 201 : 200, jsonBody: r.group };
  }),
);

export const removeMember = register(
  {
    name: 'removeConsistencyGroupMember',
    method: 'DELETE',
    route: 'consistency-groups/{groupId}/members/{machineId}',
    caller: 'admin',
    tag,
    summary: 'Remove a machine from the group (cuts made before still need its point)',
    response: groupResponse,
    responses: { 200: 'Removed' },
  },
  handler(async (root, req) => {
    const machineId = param(req, 'machineId', resourceIdSchema);
    return { jsonBody: await root.controlPlane.groups.removeMember(groupOf(req), machineId) };
  }),
);

export const cutGroupBookmark = register(
  {
    name: 'cutConsistencyGroupBookmark',
    method: 'POST',
    route: 'consistency-groups/{groupId}/bookmarks',
    caller: 'admin',
    tag,
    summary: "A shared cut: every current member's agent inserts this bookmark id",
    body: groupBookmarkBody,
    response: groupBookmarkResponse,
    responses: { 201: 'Cut recorded; agents pick it up', 409: 'The group has no members' },
  },
  handler(async (root, req) => {
    const groupId = groupOf(req);
    const body = await parseBody(req, groupBookmarkBody, root.config.maxBodyBytes);
    const b = await root.controlPlane.groups.cut(groupId, body);
    const location = `/api/consistency-groups/${groupId}/recovery-points/${b.id}`;
    return { status: 201, headers: { location }, jsonBody: b };
  }),
);

export const listGroupPoints = register(
  {
    name: 'listConsistencyGroupRecoveryPoints',
    method: 'GET',
    route: 'consistency-groups/{groupId}/recovery-points',
    caller: 'admin',
    tag,
    summary: 'Group recovery points, newest cut first (state=complete: only complete ones)',
    query: { state: 'complete | pending | expired (filters the page)', ...pagingQuery },
    response: pageOf(groupRecoveryPointResponse),
    responses: { 200: 'A page of group recovery points' },
  },
  handler(async (root, req) => {
    const state = req.query.get('state');
    if (state !== null && !['complete', 'pending', 'expired'].includes(state))
      throw validation('state must be complete, pending or expired.');
    const page = await root.controlPlane.groups.listBookmarks(groupOf(req), pageRequest(req));
    const horizon = root.clock() - GROUP_CUT_TTL_MS;
    const deps = root.replication.deps;
    const points = await Promise.all(
      page.items.map((b) => groupRecoveryPoint(deps, b.doc, horizon)),
    );
    const items = points.filter((p) => state === null || p.state === state);
    return pageResponse(req, { items, continuation: page.continuation });
  }),
);

export const getGroupPoint = register(
  {
    name: 'getConsistencyGroupRecoveryPoint',
    method: 'GET',
    route: 'consistency-groups/{groupId}/recovery-points/{pointId}',
    caller: 'admin',
    tag,
    summary:
      'One group recovery point (state complete once every member at cut time has its point)',
    response: groupRecoveryPointResponse,
    responses: { 200: 'The group recovery point' },
  },
  handler(async (root, req) => {
    const groupId = groupOf(req);
    const cut = await root.controlPlane.groups.getBookmark(
      groupId,
      param(req, 'pointId', pointIdSchema),
    );
    const horizon = root.clock() - GROUP_CUT_TTL_MS;
    return { jsonBody: await groupRecoveryPoint(root.replication.deps, cut, horizon) };
  }),
);

export const pendingGroupBookmarks = register(
  {
    name: 'machineGroupBookmarks',
    method: 'GET',
    route: 'machines/{id}/group-bookmarks',
    caller: 'machine',
    tag: 'agent',
    summary: "Consistency-group cuts this machine's agent has yet to insert (oldest first)",
    response: pendingCutsResponse,
    responses: { 200: 'Pending cuts' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    const groups = root.controlPlane.groups;
    const pending = await groups.pendingCuts(id);
    const items = await cutsToInsert(root.replication.deps, id, pending, (cut) =>
      groups.forgetCut(id, cut),
    );
    return {
      headers: { 'cache-control': 'no-store' },
      jsonBody: { items, now: new Date(root.clock()).toISOString() },
    };
  }),
);
