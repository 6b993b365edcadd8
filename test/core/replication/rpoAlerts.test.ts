import { describe, expect, it } from 'vitest';
import { ingestEvents } from '../../../core/replication/ingest';
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
  });
});
