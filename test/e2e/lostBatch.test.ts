import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminApi } from '../support/adminApi';
import { useOwnLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import { incidents } from './support/admin';
import { debugfsWrite } from '../../local/images/ext4';
import { travelsAsClaim } from '../../edge-agent/eventHubsSink';
import {
  bookmarkOf,
  captureRun,
  machineClient,
  publish,
  uploadClaimOnly,
  type Captured,
} from './support/delivery';
import { changeFiles, keepCopy, makeImage, sha256File } from './support/images';
import { agentOn, protectedMachine, runOnce, type Machine, type Point } from './support/machine';
import { expectRestores, expectResynced, generationOf } from './support/resyncChecks';

/**
 * A batch the agent sent and Event Hubs acknowledged that never reaches staging (dropped on the
 * way: the hub's retention passed during an ingest outage). Nothing after it can be applied or
 * become durable; after the grace the generation stops with a `replication-gap` alert and the
 * disk resyncs on its own. Grace 2 s here, and the 5-minute timer runs by hand.
 */
describe('a batch lost between the agent and staging', { timeout: 900_000 }, () => {
  const env = useOwnLocalStack('haven-e2e-lost-', {
    HAVEN_GAP_GRACE_SECONDS: '2',
    AzureWebJobs__autoResync__Disabled: 'true',
  });

  const autoResync = async () => {
    const r = await fetch(`http://127.0.0.1:${env.stack.port}/admin/functions/autoResync`, {
      method: 'POST',
      headers: { 'x-functions-key': env.stack.env.HAVEN_ADMIN_KEY! },
      body: '{}',
    });
    expect(r.status).toBe(202);
  };

  /** A protected machine of a 16 MiB ext4 image and its first point. */
  const protectedWithPoint = async () => {
    const mdir = mkdtempSync(path.join(env.dir, 'm-'));
    const image = path.join(mdir, 'server.img');
    makeImage(image, 16);
    const m = await protectedMachine(env.stack, mdir, image);
    return { mdir, m, p1: await runOnce(m) };
  };

  /** Every batch of the run reaches Event Hubs but `lost`. */
  const publishAllBut = (m: Machine, batches: Captured[], lost: Captured) =>
    publish(
      m,
      batches.filter((b) => b !== lost).map((b) => b.envelope),
    );

  it('stops the generation after the grace, resyncs it without an operator; both points restore exact', async () => {
    const { mdir, m, p1 } = await protectedWithPoint();
    const src1 = keepCopy(m.image, path.join(mdir, 'p1.img'));

    // The run's first batch never arrives; the later ones (the last with the bookmark) do.
    changeFiles(m.image, 'lost', 12, 512);
    const batches = await captureRun(m, path.join(mdir, 'capture'));
    expect(batches.length, 'batches in the captured run').toBeGreaterThanOrEqual(2);
    const lost = batches[0]!;
    await publishAllBut(m, batches, lost);
    // Nothing past the lost batch is applied, and its point is not durable. The timer runs
    // until the later batches' arrival has been waited on for the grace.
    const inc = await waitFor(
      'generation 1 stopped and generation 2 started',
      async () => {
        await autoResync();
        const i = await incidents(env.stack, m.machineId);
        const view = await adminApi<{
          disks: {
            id: string;
            generation: number;
            resync?: { requestedBy: string; jobId: string };
          }[];
        }>(env.stack, 'GET', `machines/${m.machineId}`);
        const disk = view.disks.find((d) => d.id === m.diskId)!;
        return i.disks.some((d) => d.generation === 1 && d.stopped) && disk.generation === 2
          ? { i, disk }
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    const g1 = inc.i.disks.find((d) => d.generation === 1)!;
    expect(g1.appliedSeq).toBe(lost.seq - 1);
    const point = await machineClient(m)
      .recoveryPoint(m.machineId, bookmarkOf(batches))
      .catch(() => undefined);
    expect(point).toBeUndefined();
    expect(inc.i.alerts.map((a) => [a.kind, a.seq])).toEqual([['replication-gap', lost.seq]]);
    expect(inc.disk.resync).toMatchObject({ requestedBy: 'auto' });

    // The agent follows the new generation and sends the whole disk: exact again.
    const p2 = await runOnce(m);
    expect(generationOf(p2)).toBe(2);
    await expectRestores(m, p2, sha256File(m.image));
    await expectRestores(m, p1, src1);
    await expectResynced(env.stack, m, inc.disk.resync!.jobId);
    // Run again: nothing more to heal.
    await autoResync();
    const after = await adminApi<{ disks: { id: string; generation: number }[] }>(
      env.stack,
      'GET',
      `machines/${m.machineId}`,
    );
    expect(after.disks.find((d) => d.id === m.diskId)!.generation).toBe(2);
  });
  it('a lost event whose claim-check upload is left: ingested from the upload after the grace, no resync; the point restores exact', async () => {
    const { mdir, m } = await protectedWithPoint();

    changeFiles(m.image, 'orphan', 12, 512);
    debugfsWrite(m.image, '/orphan-big.dat', randomBytes(2 * 1024 * 1024)); // a batch too large for an event
    const batches = await captureRun(m, path.join(mdir, 'capture'));
    // Not the last: a lost last batch leaves no gap (nothing staged after it to wait behind).
    const lost = batches.slice(0, -1).find((b) => travelsAsClaim(b.envelope));
    expect(lost, 'a batch before the last that travels as a claim check').toBeDefined();
    await uploadClaimOnly(m, lost!.envelope); // its event never arrives
    await publishAllBut(m, batches, lost!);
    const point = await waitFor(
      "the run's point, durable",
      async () => {
        await autoResync();
        return machineClient(m)
          .recoveryPoint(m.machineId, bookmarkOf(batches))
          .catch(() => undefined);
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(generationOf(point)).toBe(1);
    await expectRestores(m, point, sha256File(m.image));
    const i = await incidents(env.stack, m.machineId);
    expect(i.alerts).toEqual([]);
    expect(i.disks.filter((d) => d.stopped)).toEqual([]);
  });
  it('a lost inline batch (nothing left to take it from) is sent again by the agent: no resync, no alert, both points exact', async () => {
    const { mdir, m } = await protectedWithPoint();

    changeFiles(m.image, 'resent', 12, 512);
    const batches = await captureRun(m, path.join(mdir, 'capture'));
    // Inline (no claim-check upload to recover it from), maybe the last: a lost last batch leaves
    // no gap for the control plane to see at all, as nothing after it is staged.
    const lost = batches.find((b) => !travelsAsClaim(b.envelope));
    expect(lost, 'a batch that travels inline').toBeDefined();
    // The captured run's batches count as sent in the agent's spool; one never arrives.
    await publishAllBut(m, batches, lost!);
    const src1 = keepCopy(m.image, path.join(mdir, 'p1.img'));
    changeFiles(m.image, 'after', 4, 512);

    // The next run lists its disks every 0.5 s: generation 1 is stored up to the lost seq - 1,
    // and, once this run's batches arrive, past it; a second of that gap and the agent sends
    // the lost one again. Without it, the run would wait for a point that cannot come (the gap
    // watch is not run here).
    writeFileSync(
      path.join(m.stateDir, 'settings.json'),
      JSON.stringify({ resendAfterSeconds: 1 }),
    );
    const run = await agentOn(m, ['run', '--once', '--json', '--timeout', '240'], {
      HAVEN_AGENT_GENERATION_POLL_MS: '500',
    }).done;
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    // Exactly the lost one, once this run's own batches were stored past it (a gap).
    const resent = run.stderr.split('\n').filter((l) => l.includes('sending batches again'));
    expect(resent.length, run.stderr.slice(-3000)).toBeGreaterThanOrEqual(1);
    expect(resent[0]).toContain(`"seqs":[${lost!.seq}]`);
    const p2 = (JSON.parse(run.stdout.trim().split('\n').pop()!) as { recoveryPoint: Point })
      .recoveryPoint;
    expect(generationOf(p2)).toBe(1);
    await expectRestores(m, p2, sha256File(m.image));
    const p1 = await machineClient(m).recoveryPoint(m.machineId, bookmarkOf(batches));
    expect(generationOf(p1!)).toBe(1);
    await expectRestores(m, p1!, src1);
    const i = await incidents(env.stack, m.machineId);
    expect(i.alerts).toEqual([]);
    expect(i.disks.filter((d) => d.stopped)).toEqual([]);
  });
});
