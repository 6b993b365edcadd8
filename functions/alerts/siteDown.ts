import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { durableClientInput } from '../controlPlane/durableLauncher';
import { decisionPortsFor } from './decisionPorts';

/**
 * Haven's own site-down signal: every minute, a site whose replicating machines have all been
 * silent for HAVEN_SITE_DOWN_SECONDS raises an alert (rule `haven-site-down`, target
 * `/haven/sites/<site>`) through the same path as Azure Monitor's; it resolves when one of
 * them heartbeats again.
 */
export async function siteDownHandler(_t: Timer, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const ports = decisionPortsFor(context);
  const raised = await root.alerts.sites.scan(async (e) => {
    await root.alerts.ingest.receive(e, 'haven', ports);
  });
  for (const e of raised) context.log(`site ${e.customProperties.siteId}: ${e.monitorCondition}`);
}

app.timer('siteDownSignal', {
  schedule: '0 */1 * * * *',
  extraInputs: [durableClientInput],
  handler: siteDownHandler,
});
