import { requestCancel } from '../../core/failback/failbackRecord';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import { register } from '../controlPlane/api';
import { handler } from '../http/handler';
import { param } from '../http/body';

/**
 * Cancel of a running failback: recorded on the failback session, honoured by its saga at its
 * next look (the Azure VM starts again, the machine is `reprotected`, the job ends
 * `cancelled`). Refused once the site took over (it reported the Azure disk's digest).
 */
export const cancelFailback = register(
  {
    name: 'cancelFailback',
    method: 'POST',
    route: 'machines/{id}/cancel-failback',
    caller: 'admin',
    tag: 'recovery',
    summary:
      'Cancel the running failback before the site took over: the Azure VM runs again, back to reprotected',
    responses: {
      202: 'Cancel recorded; follow the failback job at Location (it ends cancelled)',
      409: 'No failback running, or the site already took over',
    },
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const { jobId } = await requestCancel(
      { records: root.recovery.records, items: root.controlPlane.protectedItems },
      id,
      new Date(root.clock()).toISOString(),
    );
    return {
      status: 202,
      headers: { location: `/api/jobs/${jobId}` },
      jsonBody: await root.controlPlane.jobs.get(jobId),
    };
  }),
);
