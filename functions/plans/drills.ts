import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { register } from '../controlPlane/api';
import { jobResponse, pageOf } from '../controlPlane/responseSchemas';
import { durableClientInput, launcherFor } from '../controlPlane/durableLauncher';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { docsOf, pageRequest, pageResponse, pagingQuery } from '../http/paging';
import { drillTick } from '../../core/plans/drillTimer';
import { planNameSchema, planTestFailoverBody } from '../../core/plans/planSchema';
import { drillReportResponse } from './planResponses';

const nameOf = (req: Parameters<typeof param>[0]) => param(req, 'name', planNameSchema);

export const listDrills = register(
  {
    name: 'listDrillReports',
    method: 'GET',
    route: 'plans/{name}/drills',
    caller: 'admin',
    tag: 'recovery-plans',
    summary: 'Drill reports of a plan, newest first (RTO, achieved RPO, health, leftovers)',
    query: pagingQuery,
    response: pageOf(drillReportResponse),
    responses: { 200: 'A page of drill reports' },
  },
  handler(async (root, req) => {
    const name = nameOf(req);
    await root.plans.plans.get(name);
    return pageResponse(req, docsOf(await root.plans.drills.list(name, pageRequest(req))));
  }),
);

export const startDrill = register(
  {
    name: 'startPlanDrill',
    method: 'POST',
    route: 'plans/{name}/drill',
    caller: 'admin',
    tag: 'recovery-plans',
    summary: 'Run a drill now: test failover, health, RTO/RPO, cleanup, report',
    body: planTestFailoverBody,
    response: jobResponse,
    responses: { 202: 'Started; follow the drill job at Location', 409: 'The plan is busy' },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    const name = nameOf(req);
    const body = await parseBody(req, planTestFailoverBody, root.config.maxBodyBytes);
    const { job } = await root.plans.service.startDrill(name, body, {
      startedBy: 'admin',
      launcher: launcherFor(context),
    });
    return { status: 202, headers: { location: `/api/jobs/${job.id}` }, jsonBody: job };
  }),
);

/** The drill schedule: every minute, due drills start (core/plans/drillTimer.ts). */
export async function drillScheduleHandler(_t: Timer, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const launcher = launcherFor(context);
  await drillTick(
    {
      plans: root.plans.plans,
      service: root.plans.service,
      clock: root.clock,
      ...(launcher ? { launcher } : {}),
    },
    (line) => context.log(line),
  );
}

app.timer('planDrillSchedule', {
  schedule: '0 */1 * * * *',
  extraInputs: [durableClientInput],
  handler: drillScheduleHandler,
});
