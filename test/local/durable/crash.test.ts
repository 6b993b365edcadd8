import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveSystemKey } from '../../../local/durable/httpApi';
import { MASTER_KEY } from './support';
import { collectionsDefs } from '../../../core/controlPlane/model';
import {
  committedActivities,
  durableStatus,
  effectLines,
  finalJob,
  protect,
  raise,
  replicaBlobs,
  sagaEnv,
  spawnSagaHost,
  waitUntil,
} from './sagaSupport';

// One full run of the saga records 12 activity completions (see the replay test's sequence).
const ACTIVITIES = 12;

describe('crash: SIGKILL the host at every step of the enable-protection saga, then restart', () => {
  it('always finishes; one replica per disk, one item, and no committed activity runs again', async () => {
    const log: string[] = [];
    for (let killAfter = 0; killAfter <= ACTIVITIES; killAfter++) {
      const env = await sagaEnv();
      let h = await spawnSagaHost(env);
      const jobId = await protect(h, env);
      // Raised before the saga waits for it: buffered, never lost across the crash.
      expect(await raise(h, jobId, 'InitialSyncComplete', { early: true })).toBe(202);
      if (killAfter > 0) {
        await waitUntil(
          'effects',
          async () => (effectLines(env).length >= killAfter ? true : undefined),
          30_000,
          2,
        );
        // Vary where the kill lands: inside the next activity, between its result and the
        // episode that consumes it, or inside that episode's transaction.
        await new Promise((r) => setTimeout(r, (killAfter * 7) % 13));
      }
      await h.kill();
      const before = effectLines(env).length;
      const committed = await committedActivities(env, jobId);

      h = await spawnSagaHost(env);
      try {
        const job = await finalJob(h, jobId);
        expect(job.state, `kill after ${killAfter}`).toBe('succeeded');
        await waitUntil('Completed', async () =>
          (await durableStatus(h, jobId))?.runtimeStatus === 'Completed' ? true : undefined,
        );
      } finally {
        await h.stop();
      }

      const lines = effectLines(env);
      const rerun = lines.slice(before);
      log.push(
        `kill after ${killAfter}: ${before} run, ${committed.size} committed, ${rerun.length} after restart`,
      );
      for (const key of committed) {
        expect(
          rerun.filter((l) => l === key),
          `kill after ${killAfter}: ${key} ran again`,
        ).toEqual([]);
      }
      const counts = new Map<string, number>();
      for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
      expect(counts.size, `kill after ${killAfter}`).toBe(ACTIVITIES);
      for (const [key, n] of counts) {
        // Only an activity in flight at the kill (result not committed) may have run twice.
        if (n > 1) expect(committed.has(key), `kill after ${killAfter}: ${key}`).toBe(false);
        expect(n).toBeLessThanOrEqual(2);
      }
      expect(await replicaBlobs(env)).toEqual([
        { name: `${env.machineId}/sda/g1.vhd`, footerOk: true },
        { name: `${env.machineId}/sdb/g1.vhd`, footerOk: true },
      ]);
      const items = await env.root.documents.collection(collectionsDefs.protectedItems).query({});
      expect(items.items).toHaveLength(1);
      const item = (await env.root.controlPlane.protectedItems.get(env.machineId)).doc;
      expect(item.state).toBe('protected');
      expect(item.history.map((c) => c.to)).toEqual(['enabling', 'initial-sync', 'protected']);
      const jobs = await env.root.documents.collection(collectionsDefs.jobs).query({});
      expect(jobs.items).toHaveLength(1);
    }
    if (process.env.DURABLE_TEST_LOG) console.log(log.join('\n'));
  }, 300_000);

  it('a pending timer fires and a raised event survives a SIGKILL of the host', async () => {
    const env = await sagaEnv();
    const app = join(__dirname, 'fixtures', 'app.ts');
    const code = deriveSystemKey(MASTER_KEY);
    let h = await spawnSagaHost(env, app);
    const hooks = () => `${h.baseUrl}/runtime/webhooks/durabletask`;
    const post = (path: string, body = '') =>
      fetch(`${hooks()}/${path}${path.includes('?') ? '&' : '?'}code=${code}`, {
        method: 'POST',
        body,
      });
    const status = async (id: string) =>
      (await (await fetch(`${hooks()}/instances/${id}?code=${code}`)).json()) as {
        runtimeStatus: string;
        output: unknown;
      };
    expect(
      (await post('orchestrators/Approval/appr', JSON.stringify({ timeoutMs: 1500 }))).status,
    ).toBe(202);
    expect((await post('orchestrators/TwoEvents/two')).status).toBe(202);
    await waitUntil('running', async () =>
      (await status('two')).runtimeStatus === 'Running' ? true : undefined,
    );
    expect((await post('instances/two/raiseEvent/A', '"a"')).status).toBe(202);
    await h.kill();
    h = await spawnSagaHost(env, app);
    try {
      expect((await post('instances/two/raiseEvent/B', '"b"')).status).toBe(202);
      const two = await waitUntil('two', async () => {
        const s = await status('two');
        return s.runtimeStatus === 'Completed' ? s : undefined;
      });
      expect(two.output).toEqual(['a', 'b']);
      const appr = await waitUntil('appr', async () => {
        const s = await status('appr');
        return s.runtimeStatus === 'Completed' ? s : undefined;
      });
      expect(appr.output).toEqual({ approved: false, timedOut: true });
    } finally {
      await h.stop();
    }
  });
});
