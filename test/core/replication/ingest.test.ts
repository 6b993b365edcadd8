import { describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { BATCH_MAGIC } from '../../../core/batch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent, ingestEvents } from '../../../core/replication/ingest';
import {
  BATCHES,
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import { readStaged } from '../../../core/replication/stagedBatch';
import { data, harness, ingestRef, uploadClaim, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;

async function rejections(h: Harness, machineId: string) {
  return (await h.deps.docs.rejections.query({ partitionKey: machineId })).items.map((i) => i.doc);
}

async function stagedCount(h: Harness, machineId: string) {
  return (await h.blobs.list(STAGING, `${machineId}/`)).length;
}

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
  it('stages a claim-checked batch after checking size and sha256, and removes the upload', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const { claim, ref } = await uploadClaim(h, d.batch([data(0, 3 * MiB)]));
    const r = await ingestRef(h, ref);
    expect(r).toEqual({ status: 'staged', stagingName: stagingBlobName(m.machineId, 'd0', 1, 1) });
    expect(await h.blobs.getProperties('incoming', claim)).toBeUndefined();
    expect(h.events.events).toContainEqual({
      container: STAGING,
      name: stagingBlobName(m.machineId, 'd0', 1, 1),
    });
    expect((await h.blobs.list(BATCHES, `${m.machineId}/`)).length).toBe(1);
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    expect(
      (await h.blobs.readRange(REPLICAS, replicaBlobName(m.machineId, 'd0', 1), 0, d.size)).equals(
        d.image,
      ),
    ).toBe(true);
    // Applied: the pointer and the envelope's copy are both gone.
    expect(await h.blobs.list(STAGING, `${m.machineId}/`)).toEqual([]);
    expect(await h.blobs.list(BATCHES, `${m.machineId}/`)).toEqual([]);
  });

  it('stages a claim-checked batch by server-side copy from the version it verified', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 3 * MiB)]);
    const { ref } = await uploadClaim(h, env);
    const put = vi.spyOn(h.blobs, 'putBlockBlobIfAbsent');
    const r = await ingestRef(h, ref);
    expect(r.status).toBe('staged');
    // No second upload of the payload: its copy is made by the storage service, and staging
    // holds a pointer small enough for the blob trigger to download for nothing.
    expect(put.mock.calls.map((c) => c[0])).toEqual([STAGING]);
    const name = stagingBlobName(m.machineId, 'd0', 1, 1);
    expect((await h.blobs.getProperties(STAGING, name))!.size).toBeLessThan(512);
    expect((await readStaged(h.deps, name))?.data.equals(env)).toBe(true);
  });

  it('stages the verified bytes when the claim blob is overwritten after it was read', async () => {
    for (const kind of ['memory', 'azure'] as const) {
      const h = await harness(kind);
      const m = h.addMachine({ d0: 8 * MiB });
      const d = m.disks[0]!;
      const env = d.batch([data(0, 2 * MiB)]);
      const { ref } = await uploadClaim(h, env);
      // Between ingest's verified read and its copy, the claim blob gets other bytes.
      const read = h.blobs.readBlob.bind(h.blobs);
      vi.spyOn(h.blobs, 'readBlob').mockImplementation(async (c, n) => {
        const got = await read(c, n);
        if (c === 'incoming') await h.blobs.putBlockBlob(c, n, randomBytes(env.length));
        return got;
      });
      const r = await ingestRef(h, ref);
      expect(r.status).toBe('staged');
      vi.restoreAllMocks();
      const staged = await readStaged(h.deps, stagingBlobName(m.machineId, 'd0', 1, 1));
      expect(staged?.data.equals(env)).toBe(true);
      await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
      expect(
        (
          await h.blobs.readRange(REPLICAS, replicaBlobName(m.machineId, 'd0', 1), 0, d.size)
        ).equals(d.image),
      ).toBe(true);
    }
  });

  it('refuses a claim check whose blob is truncated or whose digest lies', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 2 * MiB)], undefined, { apply: false });
    const { claim, ref } = await uploadClaim(h, env, env.subarray(0, env.length - 100));
    const r = await ingestRef(h, ref);
    expect(r).toMatchObject({ status: 'rejected', kind: 'integrity' });
    const lying = { ...ref, sha256: 'f'.repeat(64) };
    await h.blobs.putBlockBlob('incoming', claim, env);
    expect(await ingestRef(h, lying)).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/does not match its reference/),
    });
    const stolen = {
      ...ref,
      blob: `incoming/${m.machineId}x/${claim.split('/')[1]}`,
    };
    expect(await ingestRef(h, stolen)).toMatchObject({
      status: 'rejected',
    });
    const missing = { ...ref, blob: `incoming/${m.machineId}/nothing-here` };
    expect(await ingestRef(h, missing)).toMatchObject({
      status: 'rejected',
      kind: 'not-found',
    });
    expect(await stagedCount(h, m.machineId)).toBe(0);
    expect((await rejections(h, m.machineId)).length).toBe(4);
  });

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

  it('storage outages throw (the checkpoint must not advance); rejections do not', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 512)]);
    (h.blobs as MemoryBlobStore).down = true;
    await expect(
      ingestEvents(h.deps, h.opts, [
        { body: Buffer.from('junk'), partitionKey: m.machineId },
        { body: env, partitionKey: m.machineId },
      ]),
    ).rejects.toMatchObject({
      kind: 'transient',
    });
    (h.blobs as MemoryBlobStore).down = false;
    const out = await ingestEvents(h.deps, h.opts, [
      { body: Buffer.from('junk'), partitionKey: m.machineId },
      { body: env, partitionKey: m.machineId },
    ]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'staged']);
  });

  it('an unreachable storage account is transient too (real SDK)', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    h.deps.blobs = new AzureBlobStore(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1',
    );
    await expect(
      ingestEvent(h.deps, h.opts, { body: d.batch([data(0, 512)]), partitionKey: m.machineId }),
    ).rejects.toMatchObject({ kind: 'transient' });
  });
});
