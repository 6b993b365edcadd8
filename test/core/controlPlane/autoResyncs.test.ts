import { describe, expect, it } from 'vitest';
import { MACHINE_RESYNC_INTERVAL_MS } from '../../../core/controlPlane/machineResyncPace';
import { RESYNC_JOB } from '../../../core/controlPlane/resyncJob';
import { M, setup } from './support/resyncSetup';

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

  it('is paced like the machine’s own requests; an operator is not held back', async () => {
    const { cp, hydrated, advance } = await setup('protected');
    await hydrated('a', 1, { stopped: true });
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ action: 'started' });
    // Generation 2 breaks too, at once: the next automatic one waits for the interval.
    await hydrated('a', 2, { stopped: true });
    const paced = (await cp.autoResyncs.run(M))[0]!;
    expect(paced).toMatchObject({ diskId: 'a', generation: 2, action: 'paced' });
    expect(paced.retryAfterSeconds).toBeGreaterThan(0);
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(2);
    advance(MACHINE_RESYNC_INTERVAL_MS);
    expect((await cp.autoResyncs.run(M))[0]).toMatchObject({ generation: 2, action: 'started' });
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(3);
  });

  it('a machine that is not replicating (no protected item) is left as it is', async () => {
    const { cp, hydrated, started } = await setup();
    await hydrated('a', 1, { stopped: true });
    expect(await cp.autoResyncs.run(M)).toEqual([]);
    expect((await cp.resyncs.agentDisks(M))[0]!.generation).toBe(1);
    expect(started).toEqual([]);
  });
});
