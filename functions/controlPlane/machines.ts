import { register } from './api';
import { machineDetailResponse, machineResponse, pageOf } from './responseSchemas';
import { handler } from '../http/handler';
import { param } from '../http/body';
import { versioned } from '../http/etag';
import { pageRequest, pageResponse, pagingQuery } from '../http/paging';
import { resourceIdSchema, siteIdSchema } from '../../core/controlPlane/schemas';
import { validation } from '../../core/errors';
import { machineHealthView } from '../../core/replication/health';

export const listMachines = register(
  {
    name: 'listMachines',
    method: 'GET',
    route: 'machines',
    caller: 'admin',
    tag: 'machines',
    summary: 'List machines (oldest enrollment first)',
    query: { siteId: 'Only machines of this site', ...pagingQuery },
    response: pageOf(machineResponse),
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
    response: machineDetailResponse,
    responses: { 200: 'The machine' },
    etag: true,
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const { machine, etag } = await root.controlPlane.machines.get(id);
    // Replication health is computed live by the data path (RPO, churn, backlog, errors).
    const health = await machineHealthView(root.replication.deps, id);
    // A running or leftover test failover, and a failover, are reported on the machine.
    const rec = await root.recovery.records.get(id);
    const recovery = {
      testFailover: rec.test
        ? {
            jobId: rec.test.jobId,
            state: rec.test.state,
            expiresAt: rec.test.expiresAt,
            expired: Date.parse(rec.test.expiresAt) <= root.clock(),
          }
        : null,
      failover: rec.failover
        ? { jobId: rec.failover.jobId, pointId: rec.failover.vm?.pointId ?? null }
        : null,
    };
    return versioned({ doc: { ...machine, health, recovery }, etag });
  }),
);
