import { describe, expect, it } from 'vitest';
import {
  AUTO_RESYNC_LIMIT,
  HEALTHY_GENERATION_MS,
  autoResyncDelayMs,
} from '../../../core/controlPlane/autoResyncBackoff';
import { MACHINE_RESYNC_INTERVAL_MS } from '../../../core/controlPlane/machineResyncPace';
import { RESYNC_JOB } from '../../../core/controlPlane/resyncJob';
import { replicationCollectionsOf } from '../../../core/replication/state';
import { M, setup } from './support/resyncSetup';

const MIN = 60_000;

/** Disk `a` of a protected machine, and a way to break its current generation and retry it. */
async function breaking() {
  const s = await setup('protected');
  const generation = async () => (await s.cp.resyncs.agentDisks(M))[0]!.generation;
  /** Stops disk `a`'s current generation; the automatic resync that follows must wait `waitMin`. */
  const breakAndResync = async (attempt: number, waitMin: number) => {
    const g = await generation();
    await s.hydrated('a', g, { stopped: true });
    if (waitMin > 0) {
      const held = (await s.cp.autoResyncs.run(M))[0]!;
      expect(held).toMatchObject({ generation: g, action: 'backoff', attempt });
      expect(held.retryAfterSeconds! * 1000).toBeGreaterThan((waitMin - 1) * MIN);
      expect(held.retryAfterSeconds! * 1000).toBeLessThanOrEqual(waitMin * MIN);
      s.advance(waitMin * MIN - 2 * MIN);
      expect((await s.cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'backoff', attempt });
      s.advance(2 * MIN);
    }
    const r = (await s.cp.autoResyncs.run(M))[0]!;
    expect(r).toMatchObject({ generation: g, action: 'started', attempt });
    expect(await generation()).toBe(g + 1);
    return r;
  };
  const alerts = async () =>
    (
      await replicationCollectionsOf(s.documents).alerts.query({ partitionKey: M, limit: 100 })
    ).items
      .map((a) => a.doc)
      .filter((a) => a.kind === 'auto-resync-suspended');
  return { ...s, generation, breakAndResync, alerts };
}

describe('automatic resync of stopped disks', () => {
  it('a protected disk whose current generation stopped gets its next one, once', async () => {
    const { cp, hydrated, started } = await setup('protected');
    await hydrated('a', 1, { complete: true, appliedSeq: 40 });
    await hydrated('b', 1, { complete: true, stopped: true, appliedSeq: 12 });
    const [r, ...others] = await cp.autoResyncs.run(M);
    expect(others).toEqual([]);
    expect(r).toMatchObject({ diskId: 'b', generation: 1, action: 'started' });
    expect(r!.reason).toMatch(/^generation 1 stopped: integrity/);
    const disks = await cp.resyncs.agentDisks(M);
    expect(disks.map((d) => [d.id, d.generation])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(disks[1]!.resync).toMatchObject({ requestedBy: 'auto', generation: 2 });
    expect(started.map((s) => s.job.type)).toEqual([RESYNC_JOB]);
    expect(started[0]!.job.id).toBe(r!.jobId);
    // The next run finds generation 2 replicating: nothing more starts.
    expect(await cp.autoResyncs.run(M)).toEqual([]);
    expect(started).toHaveLength(1);
  });

  it('the first after the machine’s own resync is paced like the machine’s requests', async () => {
    const { cp, hydrated, advance } = await setup('protected');
    await cp.resyncs.request(M, 'a', { requestedBy: 'agent', reason: 'lost its index' });
    await hydrated('a', 2, { stopped: true });
    const paced = (await cp.autoResyncs.run(M))[0]!;
    expect(paced).toMatchObject({ diskId: 'a', generation: 2, action: 'paced', attempt: 1 });
    expect(paced.retryAfterSeconds).toBeGreaterThan(0);
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(2);
    advance(MACHINE_RESYNC_INTERVAL_MS);
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ generation: 2, action: 'started' });
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(3);
  });

  it('backs off: the n-th automatic resync in a row waits 10 min × 2^(n-1) after the one before', async () => {
    const { breakAndResync, generation } = await breaking();
    await breakAndResync(1, 0); // nothing before it: at once
    for (const [attempt, waitMin] of [
      [2, 20],
      [3, 40],
      [4, 80],
      [5, 160],
    ] as const) {
      expect(autoResyncDelayMs(attempt)).toBe(waitMin * MIN);
      await breakAndResync(attempt, waitMin);
    }
    expect(await generation()).toBe(6);
  });

  it(`after ${AUTO_RESYNC_LIMIT} in a row it stops and raises one critical alert, however often it runs`, async () => {
    const { cp, breakAndResync, generation, hydrated, advance, started, alerts } = await breaking();
    for (let attempt = 1; attempt <= AUTO_RESYNC_LIMIT; attempt++)
      await breakAndResync(attempt, attempt === 1 ? 0 : autoResyncDelayMs(attempt) / MIN);
    expect(started).toHaveLength(AUTO_RESYNC_LIMIT);
    await hydrated('a', 6, { stopped: true });
    // Timer runs that overlap, and more a month apart each: none starts it, one alert.
    for (let run = 0; run < 3; run++) {
      const runs = await Promise.all([cp.autoResyncs.run(M), cp.autoResyncs.run(M)]);
      for (const [r, ...others] of runs) {
        expect(others).toEqual([]);
        expect(r).toMatchObject({ generation: 6, action: 'suspended', attempt: 6 });
        expect(r!.retryAfterSeconds).toBeUndefined();
      }
      advance(30 * 24 * 60 * MIN);
    }
    expect(await generation()).toBe(6);
    expect(started).toHaveLength(AUTO_RESYNC_LIMIT);
    const [alert, ...more] = await alerts();
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ diskId: 'a', generation: 6, severity: 'critical' });
    expect(alert!.message).toMatch(/resync it once the cause is fixed/);
  });

  it('an operator’s resync resets the streak (and is not held back by it)', async () => {
    const { cp, breakAndResync, generation, hydrated, alerts } = await breaking();
    for (let attempt = 1; attempt <= AUTO_RESYNC_LIMIT; attempt++)
      await breakAndResync(attempt, attempt === 1 ? 0 : autoResyncDelayMs(attempt) / MIN);
    await hydrated('a', 6, { stopped: true });
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'suspended' });
    const admin = await cp.resyncs.request(M, 'a', { requestedBy: 'admin', reason: 'fixed' });
    expect(admin).toMatchObject({ created: true, disk: { generation: 7 } });
    // Generation 7 stops at once: the first automatic resync of a new streak, without waiting.
    await breakAndResync(1, 0);
    await breakAndResync(2, 20);
    expect(await generation()).toBe(9);
    expect(await alerts()).toHaveLength(1);
  });

  it('a generation that replicated for a day (a point, 24 h) resets it; a point alone does not', async () => {
    const { breakAndResync, hydrated, advance, generation } = await breaking();
    await breakAndResync(1, 0);
    await breakAndResync(2, 20);
    // Generation 3 gets its first point and stops a few minutes later (a broken agent's
    // conflicting batch): still the same streak.
    await hydrated('a', 3, { complete: true });
    await breakAndResync(3, 40);
    // Generation 4 gets its point and replicates for a day before it loses a batch: a new
    // streak, so it resyncs at once and the one after waits 20 minutes, not 160.
    await hydrated('a', 4, { complete: true });
    advance(HEALTHY_GENERATION_MS);
    await breakAndResync(1, 0);
    await breakAndResync(2, 20);
    expect(await generation()).toBe(6);
  });

  it('the agent’s own resync in the middle of a streak carries it on (not reset), unless the generation it leaves ran a day', async () => {
    const { cp, breakAndResync, hydrated, advance, generation } = await breaking();
    await breakAndResync(1, 0);
    await breakAndResync(2, 20);
    // Generation 3 stops and the agent asks for the next itself, before the timer (3 → 4),
    // held by the machine's pace only; generation 4 stops: the third of the streak, 40 minutes.
    await hydrated('a', 3, { stopped: true });
    advance(MACHINE_RESYNC_INTERVAL_MS);
    await cp.resyncs.request(M, 'a', { requestedBy: 'agent', reason: 'batch refused' });
    expect((await cp.resyncs.agentDisks(M))[0]).toMatchObject({
      generation: 4,
      resync: { requestedBy: 'agent', autoInARow: 2 },
    });
    await breakAndResync(3, 40);
    // Generation 5 replicates for a day before it stops; the agent's request then carries none.
    await hydrated('a', 5, { complete: true });
    advance(HEALTHY_GENERATION_MS);
    await hydrated('a', 5, { stopped: true });
    await cp.resyncs.request(M, 'a', { requestedBy: 'agent', reason: 'batch refused' });
    expect((await cp.resyncs.agentDisks(M))[0]!.resync).not.toHaveProperty('autoInARow');
    await hydrated('a', 6, { stopped: true });
    advance(MACHINE_RESYNC_INTERVAL_MS);
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'started', attempt: 1 });
    expect(await generation()).toBe(7);
  });

  it('a fresh protection since the last automatic resync resets the streak', async () => {
    const { cp, breakAndResync, hydrated, advance } = await breaking();
    await breakAndResync(1, 0);
    await breakAndResync(2, 20);
    for (const to of ['disabling', 'disabled', 'enabling'] as const)
      await cp.protectedItems.transition(M, to, { reason: 'protect again' });
    // Generation 3 stops: the first of a new streak, held only by the machine's 10-minute pace.
    await hydrated('a', 3, { stopped: true });
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'paced', attempt: 1 });
    advance(MACHINE_RESYNC_INTERVAL_MS);
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'started', attempt: 1 });
  });

  it('a machine that is not replicating (no protected item) is left as it is', async () => {
    const { cp, hydrated, started } = await setup();
    await hydrated('a', 1, { stopped: true });
    expect(await cp.autoResyncs.run(M)).toEqual([]);
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(1);
    expect(started).toEqual([]);
  });
});
