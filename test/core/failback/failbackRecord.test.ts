import { describe, expect, it } from 'vitest';
import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import {
  recordShipment,
  reportApplied,
  requestCancel,
  requestRepair,
  siteStatus,
} from '../../../core/failback/failbackRecord';
import type { FailbackRecord } from '../../../core/failback/model';
import { RecoveryRecords } from '../../../core/recovery/recoveryRecords';

const MiB = 1024 * 1024;
const session = (): FailbackRecord => ({
  session: 1,
  reprotectJobId: 'job-rp',
  failbackJobId: 'job-fb',
  pointId: 'p1',
  vmId: 'vm',
  disks: [
    {
      diskId: 'sda',
      azureDiskId: 'disk',
      sizeBytes: 4 * MiB,
      pointDigest: 'p'.repeat(64),
      batches: [],
      expectedDigest: 'p'.repeat(64),
      final: false,
      bytesChanged: 0,
    },
  ],
  shipped: [],
  startedAt: 'x',
});
const batch = (seq: number) => ({ seq, blob: `b${seq}`, sha256: 's', bytes: 10, dataBytes: 20 });
const shipment = (final: boolean, seqs: number[]) => ({
  batches: seqs.map(batch),
  bytesChanged: 65536,
  expectedDigest: 'a'.repeat(64),
  snapshotId: final ? 'snap-final' : 'snap-first',
  final,
});

async function records(fb: FailbackRecord, state = 'failing-back') {
  const r = new RecoveryRecords(new MemoryDocumentStore(), () =>
    Date.parse('2026-12-05T00:00:00Z'),
  );
  await r.mutate('m-1', (x) => ({ ...x, failback: fb }));
  const items = { find: async () => ({ doc: { state } }) } as never;
  return { r, items };
}

describe('failback record', () => {
  it('a shipment is recorded once per key; snapshots and the expected digest follow it', () => {
    const fb = session();
    expect(recordShipment(fb, 'k1', 'sda', shipment(false, [1, 2]))).toBe(true);
    expect(recordShipment(fb, 'k1', 'sda', shipment(false, [1, 2]))).toBe(false);
    expect(recordShipment(fb, 'k2', 'sda', shipment(true, [3]))).toBe(true);
    const d = fb.disks[0]!;
    expect(d.batches.map((b) => b.seq)).toEqual([1, 2, 3]);
    expect(d.snapshots).toEqual(['snap-first', 'snap-final']);
    expect(d.baseSnapshotId).toBe('snap-final');
    expect(d.bytesChanged).toBe(2 * 65536);
  });

  it('only the final diff applied to its last batch with the Azure digest is done; anything else is a mismatch', async () => {
    const fb = session();
    recordShipment(fb, 'k', 'sda', shipment(true, [1, 2]));
    const { r } = await records(fb);
    const at = '2026-12-05T00:00:01Z';
    const bad = await reportApplied(
      r,
      'm-1',
      { diskId: 'sda', session: 1, seq: 2, digest: 'b'.repeat(64) },
      at,
    );
    expect(bad.accepted).toBe(false);
    const early = await reportApplied(
      r,
      'm-1',
      { diskId: 'sda', session: 1, seq: 1, digest: 'a'.repeat(64) },
      at,
    );
    expect(early.accepted).toBe(false);
    expect(siteStatus((await r.get('m-1')).failback!).done).toBe(false);
    await expect(
      reportApplied(r, 'm-1', { diskId: 'sda', session: 2, seq: 2, digest: 'a'.repeat(64) }, at),
    ).rejects.toMatchObject({ kind: 'conflict' });
    const ok = await reportApplied(
      r,
      'm-1',
      { diskId: 'sda', session: 1, seq: 2, digest: 'a'.repeat(64) },
      at,
    );
    expect(ok.accepted).toBe(true);
    expect(siteStatus((await r.get('m-1')).failback!)).toMatchObject({ done: true, cancel: false });
  });

  it('cancel is refused outside a running failback and once the site took over', async () => {
    const fb = session();
    recordShipment(fb, 'k', 'sda', shipment(true, [1]));
    const idle = await records(session(), 'reprotected');
    await expect(
      requestCancel({ records: idle.r, items: idle.items }, 'm-1', 't'),
    ).rejects.toMatchObject({ kind: 'conflict' });
    const { r, items } = await records(fb);
    expect(await requestCancel({ records: r, items }, 'm-1', 't')).toEqual({ jobId: 'job-fb' });
    expect(siteStatus((await r.get('m-1')).failback!).cancel).toBe(true);
    await reportApplied(
      r,
      'm-1',
      { diskId: 'sda', session: 1, seq: 1, digest: 'a'.repeat(64) },
      't',
    );
    await expect(requestCancel({ records: r, items }, 'm-1', 't')).rejects.toMatchObject({
      kind: 'conflict',
    });
    expect(siteStatus((await r.get('m-1')).failback!).cancel).toBe(false);
  });

  it('a repair names whole 64 KiB blocks of the disk after the final diff; its shipment clears it', async () => {
    const fb = session();
    const { r } = await records(fb);
    const ask = (ranges: { offset: number; length: number }[]) =>
      requestRepair(r, 'm-1', { diskId: 'sda', session: 1, ranges }, 't');
    await expect(ask([{ offset: 0, length: 65536 }])).rejects.toMatchObject({ kind: 'conflict' }); // no final diff
    await r.mutate('m-1', (x) => (recordShipment(x.failback!, 'k', 'sda', shipment(true, [1])), x));
    await expect(ask([{ offset: 4096, length: 65536 }])).rejects.toMatchObject({
      kind: 'validation',
    });
    await expect(ask([{ offset: 4 * MiB, length: 65536 }])).rejects.toMatchObject({
      kind: 'validation',
    });
    expect(await ask([{ offset: 65536, length: 131072 }])).toEqual({ n: 1 });
    expect(siteStatus((await r.get('m-1')).failback!).disks[0]!.repair?.n).toBe(1);
    await r.mutate(
      'm-1',
      (x) => (recordShipment(x.failback!, 'rk', 'sda', { ...shipment(true, [2]), repair: 1 }), x),
    );
    const d = (await r.get('m-1')).failback!.disks[0]!;
    expect(d.repair).toBeUndefined();
    expect(d.repairs).toBe(1);
  });
});
