import { describe, expect, it } from 'vitest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { checkRpo } from '../../../core/replication/rpoAlerts';
import { bookmark, data, harness } from './support';

const MiB = 1024 * 1024;

describe('RPO alert per policy', () => {
  it('raised once when the newest durable point is older than the policy allows, resolved by a newer one', async () => {
    let now = Date.parse('2026-12-01T12:00:00.000Z');
    const h = await harness('memory', () => now);
    const m = h.addMachine({ d0: 1 * MiB });
    h.directory.machines.get(m.machineId)!.rpoAlertSeconds = 30;
    const d = m.disks[0]!;
    const cut = async (id: string) =>
      ingestEvents(h.deps, h.opts, [
        {
          body: d.batch([data(0, 4096)], bookmark(id, new Date(now).toISOString())),
          partitionKey: m.machineId,
        },
      ]);
    expect((await checkRpo(h.deps, m.machineId)).action).toBe('none'); // no point yet
    await cut('p1'); // durable: hydration is not needed for RPO
    now += 10_000;
    expect(await checkRpo(h.deps, m.machineId)).toMatchObject({ action: 'none', rpoSeconds: 10 });
    now += 35_000;
    expect(await checkRpo(h.deps, m.machineId)).toMatchObject({
      action: 'raised',
      rpoSeconds: 45,
      thresholdSeconds: 30,
    });
    now += 5_000;
    expect((await checkRpo(h.deps, m.machineId)).action).toBe('none'); // still open: not again
    await cut('p2');
    expect(await checkRpo(h.deps, m.machineId)).toMatchObject({
      action: 'resolved',
      rpoSeconds: 0,
    });
    const alerts = (await h.deps.docs.alerts.query({ partitionKey: m.machineId })).items;
    expect(alerts.map((a) => a.doc)).toEqual([
      expect.objectContaining({
        kind: 'replication-rpo',
        details: expect.objectContaining({ rpoSeconds: 45, pointId: 'p1' }),
        resolvedAt: new Date(now).toISOString(),
      }),
    ]);

    // The agent reports a backlog it cannot send within the policy: an alert before points age.
    let report = {
      at: new Date(now).toISOString(),
      backlogBytes: 800e6,
      sendBytesPerSecond: 10e6,
      promisedRpoSeconds: 81,
    };
    h.directory.agentReport = async () => report;
    now += 1000;
    const early = await checkRpo(h.deps, m.machineId);
    expect(early).toMatchObject({ action: 'raised', rpoSeconds: 1, promisedRpoSeconds: 81 });
    report = { ...report, at: new Date(now).toISOString(), backlogBytes: 0, promisedRpoSeconds: 1 };
    expect((await checkRpo(h.deps, m.machineId)).action).toBe('resolved');
    // A report too old to mean anything is ignored.
    report = { ...report, promisedRpoSeconds: 500 };
    now += 300_000;
    await cut('p3');
    expect(await checkRpo(h.deps, m.machineId)).toMatchObject({ action: 'none', rpoSeconds: 0 });
  });
});
