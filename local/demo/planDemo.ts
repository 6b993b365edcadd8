import { preparePlatform } from '../vm/platform';
import { demoClient, type DemoContext, type Row } from './demoClient';

/**
 * The demo's last part (issue 13): two small servers with bootable disks are protected and
 * replicated, a recovery plan puts the database before the web server with a health check in
 * between, an alert trigger points at it, and an Azure Monitor alert (common alert schema,
 * posted as an action group would, function key in the URL) fails the plan over: the decision
 * job starts the plan job, each machine comes up as a local VM that serves its own data at
 * its public IP. The plan's failover is then cancelled (VMs and disks deleted, replication on).
 */
export async function planFailoverByAlert(d: DemoContext): Promise<void> {
  const { stack } = d;
  const { haven, api, until, bootableServer } = demoClient(d);

  d.step(
    'Recovery plan failed over by an alert: two servers with bootable disks, protected and replicated',
  );
  await preparePlatform();
  const site = await haven('site', 'create', 'dc-east');
  const servers: { name: string; machineId: string }[] = [];
  for (const name of ['db', 'web']) {
    const server = await bootableServer(String(site.id), name, { 'role.txt': `${name}\n` });
    servers.push(server);
    d.ok(`${name}: machine ${server.machineId}, recovery point ${server.pointId}`);
  }

  await haven(
    'plan',
    'create',
    'shop',
    '--group',
    `1:${servers[0]!.machineId}`,
    '--group',
    `2:${servers[1]!.machineId}`,
  );
  await haven(
    'plan',
    'action',
    'add',
    'shop',
    '--group',
    '1',
    '--post',
    '--kind',
    'health',
    '--name',
    'db-up',
    '--timeout',
    '2m',
  );
  await haven(
    'alert-trigger',
    'create',
    'dc-east-down',
    '--plan',
    'shop',
    '--operation',
    'failover',
    '--rule',
    'dc-east-unreachable',
    '--min-severity',
    'Sev1',
    '--grace',
    '0',
  );
  d.ok(
    "plan 'shop': group 1 db (then its health check), group 2 web; trigger 'dc-east-down' → failover",
  );

  const t = Date.now();
  const alert = {
    schemaId: 'azureMonitorCommonAlertSchema',
    data: {
      essentials: {
        alertId: `/subscriptions/demo/providers/Microsoft.AlertsManagement/alerts/${Date.now()}`,
        alertRule: 'dc-east-unreachable',
        severity: 'Sev0',
        signalType: 'Metric',
        monitorCondition: 'Fired',
        monitoringService: 'Platform',
        alertTargetIDs: [
          '/subscriptions/demo/resourceGroups/dc-east/providers/Microsoft.Network/connections/vpn',
        ],
        firedDateTime: new Date().toISOString(),
        description: 'VPN to dc-east is down',
      },
      alertContext: {},
      customProperties: { site: 'dc-east' },
    },
  };
  // As an action group's Function action posts it: the function key in the URL.
  const res = await fetch(
    `${stack.apiUrl}/alerts/azure-monitor?code=${encodeURIComponent(stack.env.HAVEN_ADMIN_KEY!)}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alert),
    },
  );
  const received = (await res.json()) as { status: string; receipt: { decisionIds: string[] } };
  if (res.status !== 202 || received.status !== 'pending')
    throw new Error(`the alert was not taken: HTTP ${res.status} ${JSON.stringify(received)}`);
  d.ok(`alert received (202 at once); decision job ${received.receipt.decisionIds[0]}`);
  const decision = await until('the decision', async () => {
    const j = await api('GET', `jobs/${received.receipt.decisionIds[0]}`);
    return ['succeeded', 'failed'].includes(String(j.state)) ? j : undefined;
  });
  const result = decision.result as { outcome: string; planJobId?: string; planState?: string };
  if (result.outcome !== 'accepted' || result.planState !== 'succeeded')
    throw new Error(`the alert did not fail the plan over: ${JSON.stringify(result)}`);
  const planJob = await api('GET', `jobs/${result.planJobId}`);
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  for (const m of (planJob.result as { machines: Row[] }).machines) {
    const vm = m.vm as { publicIp: string };
    const served = await (await fetch(`http://${vm.publicIp}/data/role.txt`)).text();
    const name = servers.find((s) => s.machineId === m.machineId)!.name;
    if (served.trim() !== name) throw new Error(`${name} serves '${served.trim()}' after failover`);
    d.ok(
      `group ${String(m.group)}: ${name} runs as a VM at ${vm.publicIp} and serves its data ('${served.trim()}')`,
    );
  }
  d.ok(
    `plan job ${String(planJob.id)} ${String(planJob.state)}: alert → every server answering in ${secs} s`,
  );

  const cancel = await haven('plan', 'cancel', 'shop', '--wait');
  d.ok(
    `plan failover cancelled (job ${String(cancel.id)}): VMs and disks deleted, both servers protected again`,
  );
}
