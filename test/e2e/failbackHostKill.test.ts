import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { preparePlatform } from '../../local/vm/platform';
import { adminApi } from '../support/adminApi';
import { startStack } from '../support/localStack';
import { stackArm } from '../support/stackArm';
import { useOwnLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import {
  endedJob,
  firstPointAfterReenable,
  protectionState,
  succeededOp,
  writeOnServer,
} from './support/jobs';
import { agentJsonOn, protectedMachine, restore, runOnce, type Machine } from './support/machine';

const MiB = 1024 * 1024;

interface JobView {
  id: string;
  state: string;
  steps: { name: string; state: string }[];
  result: { disks: { snapshotId: string }[] };
}

/**
 * The control plane goes down in the middle of a failback (issue 14: host killed mid-saga):
 * the stack is stopped while the failback saga waits for the site, and restarted on its state.
 * The saga resumes from its history. The site was lost with its hardware: a new agent takes
 * the machine over (replacement token) and receives onto a new blank disk (it restores the
 * failover point onto it, then applies the diffs); the job succeeds and the new disk equals
 * the Azure disk byte for byte. Re-enabled from there, the first point sends only the site's
 * new writes.
 */
describe('failback with the host stopped mid-saga, onto new hardware', { timeout: 900_000 }, () => {
  const env = useOwnLocalStack('haven-e2e-failback-kill-');

  beforeAll(async () => {
    await preparePlatform();
  }, 600_000);

  it('the saga resumes after a host restart; a replacement agent receives onto a blank disk equal to Azure and re-enables from it', async () => {
    const dir = path.join(env.dir, 'fb');
    mkdirSync(dir);
    const image = path.join(dir, 'server.img');
    makeBootableServerImage(image, { sizeBytes: 16 * MiB, hostname: 'fbkill' });
    const m = await protectedMachine(env.stack, dir, image);
    await adminApi(env.stack, 'PUT', `machines/${m.machineId}/recovery-settings`, {
      resourceGroup: `rg-fbkill-${Date.now()}`,
    });
    await runOnce(m);
    await waitFor(
      'protected',
      async () =>
        (await protectionState(env.stack, m.machineId)) === 'protected' ? true : undefined,
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    const failedOver = await succeededOp(env.stack, m.machineId, 'failover');
    const ip = failedOver.result.vm.publicIp as string;
    await succeededOp(env.stack, m.machineId, 'commit');
    await writeOnServer(ip, 'before.txt', 'written in Azure before reprotect\n');
    await succeededOp(env.stack, m.machineId, 'reprotect');
    await writeOnServer(ip, 'after.txt', 'written in Azure after reprotect\n');

    const started = await adminApi<JobView>(
      env.stack,
      'POST',
      `machines/${m.machineId}/failback`,
      {},
    );
    await waitFor(
      'the failback waits for the site',
      async () => {
        const j = await adminApi<JobView>(env.stack, 'GET', `jobs/${started.id}`);
        return j.steps.some((s) => s.name === 'site-apply' && s.state === 'running')
          ? j
          : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 300 },
    );
    const down = env.stack;
    await down.stop();
    env.stack = await startStack(down.stateDir, down.port);

    // The site was lost with its hardware: a freshly installed agent, with none of the old
    // agent's state, takes the machine over with a replacement token, and the server comes
    // back onto a new, blank disk (the agent restores the failover point onto it first, then
    // applies the diffs, sealed under the machine's keys it was handed).
    const token = await adminApi<{ token: string }>(
      env.stack,
      'POST',
      `machines/${m.machineId}/replacement-token`,
      {},
    );
    const fresh = path.join(dir, 'new-disk.img');
    const hw: Machine = { ...m, stateDir: path.join(dir, 'new-agent'), image: fresh };
    const took = await agentJsonOn<{ machineId: string; replaced: boolean }>(hw, [
      'enroll',
      '--api',
      env.stack.apiUrl,
      '--token',
      token.token,
    ]);
    expect(took).toMatchObject({ machineId: m.machineId, replaced: true });
    // The old agent's credential died with the takeover.
    await expect(
      agentJsonOn(m, ['failback-receive', '--disk', m.diskId, '--to', fresh, '--json']),
    ).rejects.toThrow(/401|unauthenticated|credential/i);
    const received = await agentJsonOn<{
      done: boolean;
      repairs: number;
      provedBytesWritten: number;
      siteDisk: string;
    }>(hw, ['failback-receive', '--disk', m.diskId, '--to', fresh, '--wait', '--json']);
    expect(received).toMatchObject({ done: true, repairs: 0, siteDisk: 'added' });
    expect(received.provedBytesWritten).toBeGreaterThan(0);
    const done = (await endedJob(env.stack, started.id)) as JobView;
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(await protectionState(env.stack, m.machineId)).toBe('failed-back');

    const snapshotId = done.result.disks[0]!.snapshotId;
    const reader = await stackArm(env.stack).target.openSnapshot(snapshotId, 600);
    const azure = await reader.read(0, 16 * MiB);
    await reader.close();
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(fresh))).toBe(sha(azure));

    // Protected again from the new hardware without a full sync: the new agent replicates the
    // disk it received onto, and its first point carries only what was written there since.
    await succeededOp(env.stack, m.machineId, 'commit-failback');
    const fd = openSync(fresh, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, 4 * MiB);
    closeSync(fd);
    const re = await adminApi<{ id: string }>(
      env.stack,
      'POST',
      `machines/${m.machineId}/reenable`,
      {},
    );
    const first = await firstPointAfterReenable(env.stack, hw, re.id);
    expect(first.bytesApplied).toBeGreaterThan(0);
    expect(first.bytesApplied).toBeLessThan(MiB);
    const back = path.join(dir, 'reenabled.img');
    expect((await restore(hw, first.point.id, back)).verified).toBe(true);
    expect(sha(readFileSync(back))).toBe(sha(readFileSync(fresh)));
  });
});
