import { join } from 'node:path';
import { QemuVmRunner } from '../vm/qemuRunner';
import { demoClient, type DemoContext, type Row } from './demoClient';
import type { RecoveredServer } from './recoveryDemo';

/**
 * The way back (issue 14), each step checked: the server committed in Azure writes a file
 * there; reprotect ships what it wrote since the failover point; failback powers the VM off and
 * ships the rest; the site agent applies both onto the original disk image, which then boots on
 * the site and serves the file written in Azure; commit of failback removes the Azure
 * resources but the seed snapshot; re-enable protects the server again from that seed, and the
 * agent's next point sends only what the site wrote since.
 */
export async function wayBack(d: DemoContext, app: RecoveredServer): Promise<void> {
  const { haven, api, until, served } = demoClient(d);
  d.step('The way back: reprotect, failback onto the site disk, commit, re-enable');
  const m = app.machineId;
  const w = await fetch(`http://${app.ip}/write/azure.txt`, {
    method: 'POST',
    body: 'written in Azure\n',
  });
  if (w.status !== 200) throw new Error(`writing in the Azure VM: HTTP ${w.status}`);
  const rp = await haven('reprotect', m, '--wait');
  d.ok(`reprotected (job ${String(rp.id)}): what the Azure VM wrote is shipped back as it runs`);

  const diskId = String(((await api('GET', `machines/${m}`)).disks as Row[])[0]!.id);
  const fb = await haven('failback', m);
  const agentDir = join(d.work, `agent-${app.name}`);
  const received = JSON.parse(
    await d.run(d.agentBin, [
      'failback-receive',
      '--disk',
      diskId,
      '--to',
      app.image,
      '--wait',
      '--json',
      '--state-dir',
      agentDir,
    ]),
  ) as { done: boolean; bytesFetched: number; batchesApplied: number };
  const job = await until('the failback job', async () => {
    const j = await api('GET', `jobs/${String(fb.id)}`);
    return ['succeeded', 'failed', 'cancelled'].includes(String(j.state)) ? j : undefined;
  });
  if (!received.done || job.state !== 'succeeded')
    throw new Error(`failback: ${JSON.stringify(job.error ?? received)}`);
  d.ok(
    `failed back (job ${String(fb.id)}): the agent applied ${received.batchesApplied} reverse batches (${(received.bytesFetched / 1024).toFixed(0)} KiB) and its disk equals the Azure disk`,
  );

  const runner = new QemuVmRunner({ stateDir: join(d.work, 'site-vms') });
  const ip = '127.79.0.9';
  const spec = {
    id: `/site/${m}`,
    name: `${app.name}-site`,
    memoryMiB: 0,
    cpus: 1,
    disks: [app.image],
    nics: [
      {
        mac: '52:54:00:12:36:09',
        subnet: '10.31.1.0/24',
        privateIp: '10.31.1.9',
        publicIp: ip,
        tcpPorts: [80],
      },
    ],
    serialLogPath: join(d.work, 'site.serial.log'),
  };
  await runner.start(spec);
  try {
    await until('the site server answers', async () =>
      (await served(ip, '/health').catch(() => '')) ? {} : undefined,
    );
    const got = await served(ip, '/data/azure.txt');
    if (got !== 'written in Azure') throw new Error(`the site server serves '${got}'`);
    d.ok(`the site server boots from its own disk at ${ip} and serves the file written in Azure`);
  } finally {
    await runner.stop(spec.id, { graceful: true, timeoutMs: 30_000 });
  }

  const commit = await haven('failback', 'commit', m, '--wait');
  const c = commit.result as { removed: string[]; kept: string[] };
  d.ok(
    `failback committed: ${c.removed.length} Azure resources removed, ${c.kept.length} seed snapshot kept`,
  );
  const re = await haven('reenable', m);
  await until('the disks switched to their seeded generation', async () => {
    const j = await api('GET', `jobs/${String(re.id)}`);
    const steps = j.steps as { name: string; state: string }[];
    return steps.some((x) => x.name === 'switch-generation' && x.state === 'succeeded')
      ? j
      : undefined;
  });
  const point = await app.runOnce();
  const done = await until('re-enable', async () => {
    const j = await api('GET', `jobs/${String(re.id)}`);
    return ['succeeded', 'failed'].includes(String(j.state)) ? j : undefined;
  });
  const state = (await haven('failover', 'status', m)).state;
  if (done.state !== 'succeeded' || state !== 'protected')
    throw new Error(`re-enable: ${JSON.stringify(done.error ?? state)}`);
  const disk = (done.result as { disks: { bytesSentToFirstPoint: number; seededBytes: number }[] })
    .disks[0]!;
  if (disk.bytesSentToFirstPoint >= disk.seededBytes / 4)
    throw new Error(`re-enable sent ${disk.bytesSentToFirstPoint} bytes: a full resync`);
  d.ok(
    `re-enabled (job ${String(re.id)}) without a full resync: protected again at point ${point}; the agent sent ${(disk.bytesSentToFirstPoint / 1024).toFixed(0)} KiB (what the site wrote since failback), the cloud seeded ${(disk.seededBytes / 1024).toFixed(0)} KiB from the Azure disk`,
  );
}
