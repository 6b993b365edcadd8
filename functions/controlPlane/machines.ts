import { register } from './api';
import { handler } from '../http/handler';
import { param } from '../http/body';
import { etagHeader } from '../http/etag';
import { pageRequest, pageResponse } from '../http/paging';
import { resourceIdSchema, siteIdSchema } from '../../core/controlPlane/schemas';
import { validation } from '../../core/errors';

export const listMachines = register(
  {
    name: 'listMachines',
    method: 'GET',
    route: 'machines',
    caller: 'admin',
    tag: 'machines',
    summary: 'List machines (oldest enrollment first)',
    query: {
      siteId: 'Only machines of this site',
      limit: 'Page size',
      continuation: 'Token from the previous page',
    },
    responses: { 200: 'A page of machines' },
  },
  handler(async (root, req) => {
    const siteId = req.query.get('siteId') ?? undefined;
    if (siteId !== undefined && !siteIdSchema.safeParse(siteId).success)
      throw validation('Invalid siteId.');
    const page = await root.controlPlane.machines.list({ ...pageRequest(req), siteId });
    return pageResponse(req, page);
  }),
);

export const getMachine = register(
  {
    name: 'getMachine',
    method: 'GET',
    route: 'machines/{id}',
    caller: 'admin',
    tag: 'machines',
    summary: 'Get a machine with disks, last heartbeat, replication health and protection',
    responses: { 200: 'The machine' },
    etag: true,
  },
  handler(async (root, req) => {
    const { machine, etag } = await root.controlPlane.machines.get(
      param(req, 'id', resourceIdSchema),
    );
    return { headers: { etag: etagHeader(etag) }, jsonBody: machine };
  }),
);
