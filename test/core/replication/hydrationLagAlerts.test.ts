import { describe, expect, it } from 'vitest';
import { replicationHealth } from '../../../core/replication/health';
import { checkHydrationLag } from '../../../core/replication/hydrationLagAlerts';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { materializeUpTo } from '../../../core/replication/materialize';
import { checkMachines } from '../../../core/replication/monitorAlerts';
import { pointDocOf } from '../../../core/replication/pointDocs';
import { bookmark, data, harness, type Harness, type TestMachine } from './support';

const MiB = 1024 * 1024;

/** A clock the test moves, a machine of one disk, and a way to make a point durable (staged only). */
async function setUp(lagAlertSeconds?: number) {
  const clock = { now: Date.parse('2026-12-01T12:00:00.000Z') };
  const h = await harness('memory', () => clock.now);
  const m = h.addMachine({ d0: 1 * MiB });
  if (lagAlertSeconds)
    h.directory.machines.get(m.machineId)!.hydrationLagAlertSeconds = lagAlertSeconds;
  const d = m.disks[0]!;
  const cut = async (id: string) => {
    const out = await ingestEvents(h.deps, h.opts, [
      {
        body: d.batch([data(0, 4096)], bookmark(id, new Date(clock.now).toISOString())),
        partitionKey: m.machineId,
      },
    ]);
    expect(out.map((o) => o.status)).toEqual(['staged']);
  };
  return { clock, h, m, cut };
}

const alertsOf = async (h: Harness, m: TestMachine) =>
  (await h.deps.docs.alerts.query({ partitionKey: m.machineId })).items.map((a) => a.doc);

describe('hydration lag alert per policy', () => {
  it('raised once when a durable point waits past the policy for materialization, resolved once hydration catches up', async () => {
    const { clock, h, m, cut } = await setUp(60);
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'none',
      pendingPoints: 0,
      lagSeconds: 0,
    });
    await cut('p1'); // durable, not hydrated: nothing has drained the staged batch
    clock.now += 30_000;
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'none',
      pendingPoints: 1,
      lagSeconds: 30,
    });
    clock.now += 40_000;
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'raised',
      lagSeconds: 70,
      thresholdSeconds: 60,
    });
    // The machine's health says the same.
    expect((await replicationHealth(h.deps, m.machineId)).hydration).toEqual({
      pendingPoints: 1,
      lagSeconds: 70,
    });
    await cut('p2');
    clock.now += 5_000;
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'none', // still open: not raised again
      pendingPoints: 2,
      lagSeconds: 75,
    });
    const materialized = await materializeUpTo(h.deps, h.opts, m.machineId, 'p2');
    expect(materialized.state).toBe('materialized');
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'resolved',
      pendingPoints: 0,
      lagSeconds: 0,
    });
    expect(await alertsOf(h, m)).toEqual([
      expect.objectContaining({
        kind: 'replication-hydration-lag',
        severity: 'warning',
        details: expect.objectContaining({ lagSeconds: 70, pointId: 'p1', pendingPoints: 1 }),
        resolvedAt: new Date(clock.now).toISOString(),
      }),
    ]);
  });

  it('does not count points hydration has moved past, and takes the default threshold without a policy', async () => {
    const { clock, h, m, cut } = await setUp();
    await cut('p1');
    clock.now += 1_000;
    await cut('p2');
    expect((await materializeUpTo(h.deps, h.opts, m.machineId, 'p2')).state).toBe('materialized');
    // p1 left unmaterialized behind a materialized p2, as a point of a generation a resync
    // superseded is: it never will be, and it is not lag.
    const p1 = await pointDocOf(h.deps, m.machineId, 'p1');
    const { materializedAt: _, ...rest } = p1.doc;
    await h.deps.docs.points.replace({ ...rest, materialized: false }, { ifMatch: p1.etag });
    clock.now += 3_600_000;
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'none',
      pendingPoints: 0,
    });

    await cut('p3');
    clock.now += 899_000;
    expect(await checkHydrationLag(h.deps, m.machineId)).toMatchObject({
      action: 'none',
      pendingPoints: 1,
      lagSeconds: 899,
      thresholdSeconds: 900,
    });
    clock.now += 2_000;
    expect((await checkHydrationLag(h.deps, m.machineId)).action).toBe('raised');
  });

  it("the monitor's pass raises both alerts of a machine from one directory lookup", async () => {
    const { clock, h, m, cut } = await setUp(60);
    h.directory.machines.get(m.machineId)!.rpoAlertSeconds = 30;
    await cut('p1');
    clock.now += 90_000;
    let lookups = 0;
    const getMachine = h.directory.getMachine.bind(h.directory);
    h.directory.getMachine = async (id) => (lookups++, getMachine(id));
    const pass = await checkMachines(h.deps);
    expect(lookups).toBe(1);
    expect(pass.failures).toEqual([]);
    expect(pass.rpo).toMatchObject([{ machineId: m.machineId, action: 'raised', rpoSeconds: 90 }]);
    expect(pass.hydrationLag).toMatchObject([
      { machineId: m.machineId, action: 'raised', lagSeconds: 90 },
    ]);
    expect((await alertsOf(h, m)).map((a) => a.kind).sort()).toEqual([
      'replication-hydration-lag',
      'replication-rpo',
    ]);
  });
});
