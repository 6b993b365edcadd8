import { describe, expect, it } from 'vitest';
import { ingestEvent } from '../../../core/replication/ingest';
import {
  pruneRejections,
  REJECTION_TTL_SECONDS,
  REJECTIONS_KEPT,
  REJECTIONS_PER_MINUTE,
} from '../../../core/replication/incidents';
import { replicationHealth } from '../../../core/replication/health';
import { data, harness } from './support';

const MiB = 1024 * 1024;

describe('a flood of bad batches from one machine', () => {
  it('records a bounded number of rejections that expire, and one alert per stopped disk', async () => {
    // Real time (the store's expiry check reads the real clock), advanced by hand.
    let now = Date.now();
    const h = await harness('memory', () => (now += 5));
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const send = (body: Buffer) => ingestEvent(h.deps, h.opts, { body, partitionKey: m.machineId });
    const stored = async () =>
      (await h.deps.docs.rejections.query({ partitionKey: m.machineId, limit: 1000 })).items;

    // Four minutes of flood: each minute records at most its rate, every event is still refused.
    const perMinute = REJECTIONS_PER_MINUTE + 10;
    for (let minute = 0; minute < 4; minute++) {
      for (let i = 0; i < perMinute; i++)
        expect((await send(Buffer.from(`garbage ${minute}.${i}`))).status).toBe('rejected');
      now += 60_000;
    }
    expect(await stored()).toHaveLength(4 * REJECTIONS_PER_MINUTE);
    // The retention timer keeps the newest.
    const newestBefore = (await replicationHealth(h.deps, m.machineId)).errors;
    expect(await pruneRejections(h.deps, m.machineId)).toBe(
      4 * REJECTIONS_PER_MINUTE - REJECTIONS_KEPT,
    );
    const kept = await stored();
    expect(kept).toHaveLength(REJECTIONS_KEPT);
    expect((await replicationHealth(h.deps, m.machineId)).errors).toEqual(newestBefore);
    // Each expires: Cosmos deletes it after `ttl` (the container has TTL on); before that, and on
    // the emulator, which has no TTL, reads skip it past `expiresAt` (the adapters' contract).
    for (const { doc } of kept) {
      expect(doc.ttl).toBe(REJECTION_TTL_SECONDS);
      expect(doc.expiresAt).toBe(Date.parse(doc.at) + REJECTION_TTL_SECONDS * 1000);
    }

    // A conflicting replay stops the disk: one alert, however often the stopped disk is hit.
    expect((await send(d.batch([data(0, 4096, 1)]))).status).toBe('staged');
    for (let i = 0; i < 5; i++) {
      const liar = d.batch([data(0, 4096, 9)], undefined, { seq: 1, apply: false });
      expect((await send(liar)).status).toBe(i === 0 ? 'conflict' : 'rejected');
    }
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId, limit: 100 });
    expect(alerts.items.map((a) => a.doc.kind)).toEqual(['replication-conflict']);
  });
});
