import { debugfsRm, debugfsWrite } from '../images/ext4';
import { preparePlatform } from '../vm/platform';
import { demoClient, type DemoContext, type Row } from './demoClient';

/**
 * One machine brought up in Azure (issue 12), each step checked: a server with a bootable disk
 * has two recovery points ('v1', then 'v2' in its data file); a test failover to the older one
 * serves 'v1' while production goes on, its cleanup leaves nothing; a failover to the latest
 * serves 'v2'; a change of recovery point serves 'v1' again on the same public IP; commit makes
 * it final. Locally the VMs are QEMU guests of the stack's ARM endpoint.
 */
export async function singleMachineRecovery(d: DemoContext): Promise<RecoveredServer> {
  const { haven, bootableServer, served } = demoClient(d);
  d.step('One server recovered: test failover, cleanup, failover, change of point, commit');
  await preparePlatform();
  const site = await haven('site', 'create', 'dc-west');
  const app = await bootableServer(String(site.id), 'app', { 'v.txt': 'v1\n' });
  debugfsRm(app.image, '/srv/data/v.txt');
  debugfsWrite(app.image, '/srv/data/v.txt', Buffer.from('v2\n'));
  const p2 = await app.runOnce();
  d.ok(`app: machine ${app.machineId}, points ${app.pointId} ('v1') and ${p2} ('v2')`);

  const ipOf = (job: Row) => (job.result as { vm: { publicIp: string } }).vm.publicIp;
  const expect = async (ip: string, want: string, what: string) => {
    const got = await served(ip, '/data/v.txt');
    if (got !== want) throw new Error(`${what}: the VM serves '${got}', expected '${want}'`);
  };
  const m = app.machineId;

  const test = await haven('failover', 'test', m, '--point', app.pointId, '--wait');
  await expect(ipOf(test), 'v1', 'test failover');
  d.ok(
    `test failover (job ${String(test.id)}): a VM at ${ipOf(test)} serves 'v1'; still protected`,
  );
  await haven('failover', 'cleanup', m, '--wait');
  const afterCleanup = await haven('failover', 'status', m);
  if (afterCleanup.vm !== null || afterCleanup.state !== 'protected')
    throw new Error(`cleanup left ${JSON.stringify(afterCleanup)}`);
  d.ok('test failover cleaned up: no VM, disks or test network left; replication never stopped');

  const failover = await haven('failover', 'start', m, '--wait');
  await expect(ipOf(failover), 'v2', 'failover');
  d.ok(`failover to the latest point (job ${String(failover.id)}): ${ipOf(failover)} serves 'v2'`);
  const changed = await haven('failover', 'change-point', m, '--point', app.pointId, '--wait');
  const status = await haven('failover', 'status', m);
  const ip = (status.vm as { publicIp: string }).publicIp;
  await expect(ip, 'v1', 'change of recovery point');
  d.ok(`recovery point changed (job ${String(changed.id)}): the same ${ip} serves 'v1' now`);
  await haven('failover', 'commit', m, '--wait');
  const committed = await haven('failover', 'status', m);
  if (committed.state !== 'committed') throw new Error(`after commit: ${String(committed.state)}`);
  d.ok(`committed at ${app.pointId}: the server runs in Azure; the other points are dropped`);
  return { ...app, ip };
}

/** The demo's server after its committed failover (step 14 brings it home). */
export type RecoveredServer = Awaited<
  ReturnType<ReturnType<typeof demoClient>['bootableServer']>
> & {
  /** The Azure VM's public IP. */
  ip: string;
};
