import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { BATCH_MAGIC } from '../../../core/batch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { REPLICAS, replicaBlobName, stagingBlobName } from '../../../core/replication/names';
import { sealReverseBatch } from '../../../core/failback/reverseBatch';
import { data, harness, rejections, stagedCount, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;

/** Applies one good batch so the replica exists, then returns its bytes for "unchanged" checks. */
async function baseline(h: Harness, d: TestDisk) {
  await ingestEvent(h.deps, h.opts, {
    body: d.batch([data(0, 4096, 1)]),
    partitionKey: d.machine.machineId,
  });
  await hydrateStaged(h.deps, h.opts, stagingBlobName(d.machine.machineId, d.diskId, 1, d.seq));
  return h.blobs.readRange(REPLICAS, replicaBlobName(d.machine.machineId, d.diskId, 1), 0, d.size);
}

describe('ingest', () => {
  it('rejects forged, truncated, misdirected and lying batches with a clear reason; the replica is unchanged', async () => {
    const h = await harness();
    const a = h.addMachine({ d0: 2 * MiB });
    const b = h.addMachine({ d0: 2 * MiB });
    const da = a.disks[0]!;
    const db = b.disks[0]!;
    const before = await baseline(h, da);
    const cases: { name: string; body: Buffer; pk: string; kind: string; reason: RegExp }[] = [];
    // A batch for another machine's disk, sent on our partition (and sealed with our key).
    const other = db.batch([data(0, 512, 7)], undefined, { apply: false, key: a.key });
    cases.push({
      name: 'other machine',
      body: other,
      pk: a.machineId,
      kind: 'forbidden',
      reason: /arrived from/,
    });
    // Our machine id but a disk we do not own.
    cases.push({
      name: 'foreign disk',
      body: new (da.constructor as typeof import('./support').TestDisk)(
        da.machine,
        'dX',
        2 * MiB,
      ).batch([data(0, 512)], undefined, { apply: false }),
      pk: a.machineId,
      kind: 'forbidden',
      reason: /does not belong/,
    });
    // Wrong key (forged).
    cases.push({
      name: 'wrong key',
      body: da.batch([data(0, 512, 8)], undefined, { apply: false, seq: 2, key: randomBytes(32) }),
      pk: a.machineId,
      kind: 'integrity',
      reason: /fails authentication/,
    });
    // Truncated envelope.
    const good = da.batch([data(0, 512, 9)], undefined, { apply: false, seq: 2 });
    cases.push({
      name: 'truncated',
      body: good.subarray(0, good.length - 7),
      pk: a.machineId,
      kind: 'integrity',
      reason: /authentication|truncated/,
    });
    // One flipped ciphertext bit.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 30]! ^= 1;
    cases.push({
      name: 'flipped bit',
      body: flipped,
      pk: a.machineId,
      kind: 'integrity',
      reason: /authentication/,
    });
    // seq from the future.
    cases.push({
      name: 'future seq',
      body: da.batch([data(0, 512)], undefined, { apply: false, seq: 5_000_000 }),
      pk: a.machineId,
      kind: 'validation',
      reason: /from the future/,
    });
    // Lying header: disk size differs from the registered disk.
    const liar = new (da.constructor as typeof import('./support').TestDisk)(
      da.machine,
      'd0',
      4 * MiB,
    );
    liar.seq = 1;
    cases.push({
      name: 'lying diskSize',
      body: liar.batch([data(0, 512)], undefined, { apply: false }),
      pk: a.machineId,
      kind: 'validation',
      reason: /does not match disk/,
    });
    // Header tampered after sealing (AAD covers it): change seq 2 → 3 in the JSON.
    const tampered = Buffer.from(good.toString('latin1').replace('"seq":2', '"seq":3'), 'latin1');
    cases.push({
      name: 'edited header',
      body: tampered,
      pk: a.machineId,
      kind: 'integrity',
      reason: /authentication/,
    });
    // Not a batch at all, and an event with no partition key.
    cases.push({
      name: 'garbage',
      body: Buffer.from('hello'),
      pk: a.machineId,
      kind: 'validation',
      reason: /not JSON/,
    });
    cases.push({
      name: 'bad magic',
      body: Buffer.concat([BATCH_MAGIC, Buffer.alloc(3)]),
      pk: a.machineId,
      kind: 'integrity',
      reason: /truncated/,
    });
    // Unknown machine.
    const ghost = new (da.constructor as typeof import('./support').TestDisk)(
      { ...da.machine, machineId: 'ghost1' },
      'd0',
      2 * MiB,
    );
    cases.push({
      name: 'unknown machine',
      body: ghost.batch([data(0, 512)]),
      pk: 'ghost1',
      kind: 'unauthenticated',
      reason: /not enrolled/,
    });

    for (const c of cases) {
      const r = await ingestEvent(h.deps, h.opts, { body: c.body, partitionKey: c.pk });
      expect(r, c.name).toMatchObject({
        status: 'rejected',
        kind: c.kind,
        reason: expect.stringMatching(c.reason),
      });
    }
    const recorded = await rejections(h, a.machineId);
    expect(recorded.length).toBe(cases.length - 1);
    expect(recorded.every((r) => r.reason.length > 10)).toBe(true);
    expect(await stagedCount(h, a.machineId)).toBe(0);
    expect(await stagedCount(h, b.machineId)).toBe(0);
    const after = await h.blobs.readRange(
      REPLICAS,
      replicaBlobName(a.machineId, 'd0', 1),
      0,
      da.size,
    );
    expect(after.equals(before)).toBe(true);
    expect(
      await h.blobs.getProperties(REPLICAS, replicaBlobName(b.machineId, 'd0', 1)),
    ).toBeUndefined();
  });

  it('a batch naming machine B on machine B’s key but sent from A is refused', async () => {
    const h = await harness();
    const a = h.addMachine({ d0: 1 * MiB });
    const b = h.addMachine({ d0: 1 * MiB });
    const env = b.disks[0]!.batch([data(0, 512)]);
    const r = await ingestEvent(h.deps, h.opts, { body: env, partitionKey: a.machineId });
    expect(r).toMatchObject({ status: 'rejected', kind: 'forbidden' });
    expect(
      await ingestEvent(h.deps, h.opts, {
        body: env,
        partitionKey: a.machineId,
        publisher: b.machineId,
      }),
    ).toMatchObject({ status: 'rejected' });
    expect(await ingestEvent(h.deps, h.opts, { body: env })).toMatchObject({
      status: 'rejected',
      kind: 'unauthenticated',
    });
  });

  it('a reverse (to-site) batch of the machine, on its own key, is refused by the forward path', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const env = sealReverseBatch(
      {
        machineId: m.machineId,
        diskId: 'd0',
        session: 1,
        seq: 1,
        diskSize: 1 * MiB,
        keyId: m.keyId,
      },
      [{ offset: 0, data: randomBytes(4096) }],
      m.key,
    );
    const r = await ingestEvent(h.deps, h.opts, { body: env, partitionKey: m.machineId });
    expect(r).toMatchObject({ status: 'rejected', kind: 'validation' });
    expect(JSON.stringify(r)).toMatch(/to-site/);
    expect(await stagedCount(h, m.machineId)).toBe(0);
  });
});
