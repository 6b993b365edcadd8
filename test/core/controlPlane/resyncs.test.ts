import { describe, expect, it } from 'vitest';
import { MACHINE_RESYNC_INTERVAL_MS } from '../../../core/controlPlane/machineResyncPace';
import { RESYNC_JOB } from '../../../core/controlPlane/resyncJob';
import { replicationCollectionsOf } from '../../../core/replication/state';
import { M, MiB, setup } from './support/resyncSetup';

describe('resync (control plane)', () => {
  it('bumps the generation, moves a protected item to initial-sync under a resync job and starts it', async () => {
    const { cp, started } = await setup('protected');
    const r = await cp.resyncs.request(M, 'a', { requestedBy: 'admin', reason: 'operator' });
    expect(r.created).toBe(true);
    expect(r.disk).toMatchObject({
      id: 'a',
      generation: 2,
      resync: { generation: 2, requestedBy: 'admin', reason: 'operator', jobId: r.job!.id },
    });
    expect(r.disk.resync?.completedAt).toBeUndefined();
    expect(r.job).toMatchObject({ type: RESYNC_JOB, machineId: M, state: 'queued' });
    expect(r.item).toMatchObject({ state: 'initial-sync', jobId: r.job!.id });
    expect(r.item!.history.at(-1)).toMatchObject({ from: 'protected', to: 'initial-sync' });
    expect(started).toEqual([
      { job: r.job, input: { machineId: M, diskId: 'a', generation: 2, sizeBytes: 8 * MiB } },
    ]);
    // The other disk is untouched; the agent's listing shows each disk's generation.
    const listed = await cp.resyncs.agentDisks(M);
    expect(listed.map((d) => [d.id, d.generation, d.appliedSeq])).toEqual([
      ['a', 2, 0],
      ['b', 1, 0],
    ]);
  });

  it('is idempotent: a pending generation is answered, the same key gets the same answer', async () => {
    const { cp, hydrated, started } = await setup('protected');
    const first = await cp.resyncs.request(M, 'a', { requestedBy: 'admin', idempotencyKey: 'k1' });
    const again = await cp.resyncs.request(M, 'a', { requestedBy: 'agent' });
    expect(again).toMatchObject({ created: false, disk: { generation: 2 } });
    expect(again.job!.id).toBe(first.job!.id);
    // A queued job (its first start failed) is started again by the repeat.
    expect(started).toHaveLength(2);

    // Completed: a retry with the same key still gets that answer, a plain request starts 3.
    await hydrated('a', 2, { complete: true });
    await cp.resyncs.settle(M);
    const retried = await cp.resyncs.request(M, 'a', {
      requestedBy: 'admin',
      idempotencyKey: 'k1',
    });
    expect(retried).toMatchObject({ created: false, disk: { generation: 2 } });
    expect(retried.disk.resync?.completedAt).toBeDefined();
    const third = await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    expect(third).toMatchObject({ created: true, disk: { generation: 3 } });
  });

  it('a stopped pending generation is not answered: the next request starts a new one', async () => {
    const { cp, hydrated } = await setup('protected');
    await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    await hydrated('a', 2, { stopped: true });
    const r = await cp.resyncs.request(M, 'a', { requestedBy: 'admin', reason: 'after incident' });
    expect(r).toMatchObject({ created: true, disk: { generation: 3 } });
  });

  it('a request for a generation the disk has moved past starts nothing (409, no retry time)', async () => {
    const { cp, hydrated, started } = await setup('protected');
    await hydrated('a', 1, { stopped: true });
    // Read at generation 1; an operator's resync and a stop of its generation 2 come first.
    await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    await hydrated('a', 2, { stopped: true });
    const jobs = started.length;
    const err = await cp.resyncs
      .request(M, 'a', { requestedBy: 'auto', idempotencyKey: 'auto-a-g1', ofGeneration: 1 })
      .then(
        () => undefined,
        (e: unknown) => e as { kind?: string; details?: Record<string, unknown> },
      );
    expect(err).toMatchObject({ kind: 'conflict', details: { generation: 2 } });
    expect(err?.details?.retryAfterSeconds).toBeUndefined();
    expect(started.length).toBe(jobs);
    expect((await cp.resyncs.agentDisks(M))[0]).toMatchObject({ generation: 2 });
    // For the generation it is at, it goes ahead.
    const r = await cp.resyncs.request(M, 'a', {
      requestedBy: 'auto',
      idempotencyKey: 'auto-a-g2',
      ofGeneration: 2,
    });
    expect(r).toMatchObject({ created: true, disk: { generation: 3 } });
  });

  it('a stopped disk (integrity incident) resyncs out of it', async () => {
    const { cp, hydrated } = await setup('protected');
    await hydrated('a', 1, { stopped: true, appliedSeq: 7 });
    const r = await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    expect(r.disk.generation).toBe(2);
    expect((await cp.resyncs.agentDisks(M))[0]).toMatchObject({ generation: 2, appliedSeq: 0 });
  });

  it("the agent's listing: how far the current generation is stored in Azure (staged or applied)", async () => {
    const { cp, documents, hydrated } = await setup('protected');
    const frontiers = replicationCollectionsOf(documents).frontiers;
    const frontier = (
      diskId: string,
      generation: number,
      stagedSeq: number,
      ahead: number[] = [],
    ) =>
      frontiers.upsert({
        id: `${diskId}.g${generation}`,
        type: 'staged-frontier',
        machineId: M,
        diskId,
        generation,
        stagedSeq,
        ahead,
        bookmarks: [],
        updatedAt: '2030-01-01T00:00:00Z',
      });
    const listing = async () =>
      (await cp.resyncs.agentDisks(M)).map((d) => [
        d.id,
        d.generation,
        d.appliedSeq,
        d.stagedSeq,
        d.stagedAhead,
      ]);
    expect(await listing()).toEqual([
      ['a', 1, 0, 0, []],
      ['b', 1, 0, 0, []],
    ]);
    // a waits for 10 while 12 and 13 are stored.
    await frontier('a', 1, 9, [12, 13]);
    await hydrated('a', 1, { appliedSeq: 4 });
    // b's replica has batches its frontier never recorded (an ingest that died after applying).
    await frontier('b', 1, 2, [4]);
    await hydrated('b', 1, { appliedSeq: 5 });
    expect(await listing()).toEqual([
      ['a', 1, 4, 9, [12, 13]],
      ['b', 1, 5, 5, []],
    ]);
    // A new generation starts from nothing: generation 1's frontier is not its own.
    await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    expect((await listing())[0]).toEqual(['a', 2, 0, 0, []]);
  });

  it('settles: the item goes back to protected once every pending resync has its first point', async () => {
    const { cp, hydrated } = await setup('protected');
    const ra = await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    const rb = await cp.resyncs.request(M, 'b', { requestedBy: 'agent' });
    expect(rb.item).toMatchObject({ state: 'initial-sync', jobId: ra.job!.id });
    expect(await cp.resyncs.settle(M, ra.job!.id)).toEqual({
      done: false,
      pending: ['a', 'b'],
      state: 'initial-sync',
    });
    // Generation 1 points do not count, nor a generation still copying.
    await hydrated('a', 1, { complete: true });
    await hydrated('b', 2, { appliedSeq: 3 });
    expect((await cp.resyncs.settle(M, ra.job!.id)).done).toBe(false);
    await hydrated('a', 2, { complete: true });
    expect(await cp.resyncs.settle(M, ra.job!.id)).toEqual({
      done: true,
      pending: ['b'],
      state: 'initial-sync',
    });
    await hydrated('b', 2, { complete: true });
    expect(await cp.resyncs.settle(M, rb.job!.id)).toEqual({
      done: true,
      pending: [],
      state: 'protected',
    });
    const item = await cp.protectedItems.get(M);
    expect(item.doc.history.at(-1)).toMatchObject({ from: 'initial-sync', to: 'protected' });
    expect((await cp.machines.listDisks(M))[0]!.resync?.completedAt).toBeDefined();
  });

  it('during the enable saga the item stays with the enable job', async () => {
    const { cp, enableJob } = await setup('initial-sync');
    const r = await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    expect(r.item).toMatchObject({ state: 'initial-sync', jobId: enableJob!.id });
    expect(r.disk.generation).toBe(2);
  });

  it('refuses unknown machines and disks (404) and disks that are not replicating (409)', async () => {
    const { cp } = await setup('protected');
    await expect(cp.resyncs.request('nope', 'a', { requestedBy: 'admin' })).rejects.toMatchObject({
      kind: 'not-found',
    });
    await expect(cp.resyncs.request(M, 'zz', { requestedBy: 'admin' })).rejects.toMatchObject({
      kind: 'not-found',
    });
    const unprotected = await setup();
    await expect(
      unprotected.cp.resyncs.request(M, 'a', { requestedBy: 'admin' }),
    ).rejects.toMatchObject({ kind: 'conflict' });
    const failedOver = await setup('failed-over');
    await expect(
      failedOver.cp.resyncs.request(M, 'a', { requestedBy: 'admin' }),
    ).rejects.toMatchObject({ kind: 'conflict', details: { state: 'failed-over' } });
  });

  it('a resized disk is a resync into a replica of the new size; other changed facts stay a conflict', async () => {
    const { cp, started, hydrated, advance } = await setup('protected');
    const same = await cp.resyncs.addDisk(M, {
      id: 'a',
      sizeBytes: 8 * MiB,
      logicalSectorSize: 512,
    });
    expect(same).toMatchObject({ created: false, disk: { generation: 1 } });
    expect(same.resync).toBeUndefined();

    const r = await cp.resyncs.addDisk(M, { id: 'a', sizeBytes: 12 * MiB, logicalSectorSize: 512 });
    expect(r.disk).toMatchObject({
      sizeBytes: 12 * MiB,
      generation: 2,
      resync: { requestedBy: 'resize', previousSizeBytes: 8 * MiB },
    });
    expect(started.at(-1)!.input).toMatchObject({ generation: 2, sizeBytes: 12 * MiB });
    // Re-sending the new facts is a no-op; the sector size still cannot change silently.
    const again = await cp.resyncs.addDisk(M, {
      id: 'a',
      sizeBytes: 12 * MiB,
      logicalSectorSize: 512,
    });
    expect(again).toMatchObject({ created: false, disk: { generation: 2 } });
    await expect(
      cp.resyncs.addDisk(M, { id: 'a', sizeBytes: 12 * MiB, logicalSectorSize: 4096 }),
    ).rejects.toMatchObject({ kind: 'conflict' });
    // A size flip-flopping while generation 2 is pending starts nothing: no generation, no job.
    const jobs = started.length;
    for (const sizeBytes of [8 * MiB, 16 * MiB, 8 * MiB, 16 * MiB])
      await expect(
        cp.resyncs.addDisk(M, { id: 'a', sizeBytes, logicalSectorSize: 512 }),
      ).rejects.toMatchObject({ kind: 'conflict', details: { generation: 2 } });
    expect(started).toHaveLength(jobs);
    expect((await cp.machines.listDisks(M)).find((d) => d.id === 'a')).toMatchObject({
      generation: 2,
      sizeBytes: 12 * MiB,
    });
    // Once generation 2 has its first point (and the machine's pace allows), the next resize
    // starts generation 3.
    await hydrated('a', 2, { complete: true });
    await cp.resyncs.settle(M);
    advance(MACHINE_RESYNC_INTERVAL_MS);
    const bigger = await cp.resyncs.addDisk(M, {
      id: 'a',
      sizeBytes: 16 * MiB,
      logicalSectorSize: 512,
    });
    expect(bigger.disk).toMatchObject({ generation: 3, sizeBytes: 16 * MiB });
    expect(started).toHaveLength(jobs + 1);
  });

  it('the machine starts at most one generation per disk per interval, however it ends the last (an admin is not held back)', async () => {
    const { cp, started, hydrated, advance } = await setup('protected');
    const agent = { requestedBy: 'agent' as const, reason: 'lost index' };
    expect(await cp.resyncs.request(M, 'a', agent)).toMatchObject({ disk: { generation: 2 } });
    // Stopped at once by a conflicting batch, or done at once by a bare bookmark: no new one.
    await hydrated('a', 2, { stopped: true });
    await expect(cp.resyncs.request(M, 'a', agent)).rejects.toMatchObject({
      kind: 'conflict',
      details: { generation: 2 },
    });
    await hydrated('a', 2, { complete: true });
    await cp.resyncs.settle(M);
    await expect(
      cp.resyncs.addDisk(M, { id: 'a', sizeBytes: 12 * MiB, logicalSectorSize: 512 }),
    ).rejects.toMatchObject({ kind: 'conflict', details: { generation: 2 } });
    expect(started).toHaveLength(1);
    // Later, the machine may; an admin may any time.
    advance(MACHINE_RESYNC_INTERVAL_MS);
    expect(await cp.resyncs.request(M, 'a', agent)).toMatchObject({ disk: { generation: 3 } });
    await hydrated('a', 3, { stopped: true });
    const admin = await cp.resyncs.request(M, 'a', { requestedBy: 'admin' });
    expect(admin).toMatchObject({ created: true, disk: { generation: 4 } });
    expect(started).toHaveLength(3);
  });

  it('a resize of an unprotected disk records the new size and generation without a job', async () => {
    const { cp, started } = await setup();
    const r = await cp.resyncs.addDisk(M, { id: 'b', sizeBytes: 4 * MiB, logicalSectorSize: 512 });
    expect(r.resync).toMatchObject({ created: true, job: null });
    expect(r.disk).toMatchObject({ sizeBytes: 4 * MiB, generation: 2 });
    expect(r.disk.resync?.completedAt).toBeDefined();
    expect(started).toEqual([]);
  });
});
