import { register } from '../controlPlane/api';
import { jobResponse } from '../controlPlane/responseSchemas';
import { durableClientInput, launcherFor } from '../controlPlane/durableLauncher';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { emptyBody, resourceIdSchema } from '../../core/controlPlane/schemas';
import { jobControlBody } from '../../core/plans/jobControl';
import { eventsFor } from './durableEvents';

/**
 * A job's allowed actions: resume (a manual action done, an alert decision approved), cancel
 * (a plan operation stops starting machines; a decision is denied), restart (a plan job again
 * for its machines that did not succeed).
 */
function control(name: string, action: 'resume' | 'cancel', summary: string) {
  return register(
    {
      name,
      method: 'POST',
      route: `jobs/{id}/${action}`,
      caller: 'admin',
      tag: 'jobs',
      summary,
      body: jobControlBody,
      response: jobResponse,
      responses: {
        202: 'Handed to the job; follow it at Location',
        409: `The job does not allow ${action} now`,
      },
      extraInputs: [durableClientInput],
    },
    handler(async (root, req, context) => {
      const id = param(req, 'id', resourceIdSchema);
      const body = await parseBody(req, jobControlBody, root.config.maxBodyBytes);
      const job = await root.plans.jobControl.act(id, action, body, 'admin', eventsFor(context));
      return { status: 202, headers: { location: `/api/jobs/${job.id}` }, jsonBody: job };
    }),
  );
}

export const resumeJob = control(
  'resumeJob',
  'resume',
  'Resume a job waiting for a manual action (approve an alert decision)',
);
export const cancelJob = control(
  'cancelJob',
  'cancel',
  'Cancel a plan, drill or alert-decision job (deny an approval)',
);

export const restartJob = register(
  {
    name: 'restartJob',
    method: 'POST',
    route: 'jobs/{id}/restart',
    caller: 'admin',
    tag: 'jobs',
    summary: 'Run a plan job again for the machines that did not succeed (a new job)',
    body: emptyBody,
    response: jobResponse,
    responses: { 202: 'The new job', 409: 'Nothing to restart, or the plan is busy' },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const id = param(req, 'id', resourceIdSchema);
    await parseBody(req, emptyBody, root.config.maxBodyBytes);
    const r = await root.plans.service.restart(id, { launcher: launcherFor(context) });
    return { status: 202, headers: { location: `/api/jobs/${r.job.id}` }, jsonBody: r.job };
  }),
);
