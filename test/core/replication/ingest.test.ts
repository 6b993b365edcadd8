import { describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { BATCH_MAGIC, incomingContainerOf } from '../../../core/batch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import {
  BATCHES,
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import { readStaged } from '../../../core/replication/stagedBatch';
import { sealReverseBatch } from '../../../core/failback/reverseBatch';
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
  it('stages a claim check as a pointer to the upload, reading its header only; hydrate reads the upload once, then removes it', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 3 * MiB)]);
    const { claim, ref } = await uploadClaim(h, env);
    const read = vi.spyOn(h.blobs, 'readRange');
    const head = vi.spyOn(h.blobs, 'readHead');
    const whole = vi.spyOn(h.blobs, 'readBlob');
    const put = vi.spyOn(h.blobs, 'putBlockBlobIfAbsent');
    const copy = vi.spyOn(h.blobs, 'copyBlockBlobIfAbsent');
    const name = stagingBlobName(m.machineId, 'd0', 1, 1);
    expect(await ingestRef(h, ref)).toEqual({ status: 'staged', stagingName: name });
    // Into storage once (the agent's upload): ingest reads its header, copies nothing, uploads
    // nothing but a pointer small enough for the blob trigger to download for nothing.
    const ingestRead =
      read.mock.calls.reduce((n, c) => n + c[3], 0) + head.mock.calls.reduce((n, c) => n + c[2], 0);
    expect(ingestRead).toBeLessThanOrEqual(256 * 1024); // a header read, not the 3 MiB payload
    expect(head.mock.calls.length + read.mock.calls.length).toBe(1); // one request, no HEAD
    expect(whole.mock.calls.filter((c) => c[0] === incomingContainerOf(m.machineId))).toEqual([]);
    expect(copy).not.toHaveBeenCalled();
    expect(put.mock.calls.map((c) => c[0])).toEqual([STAGING]);
    expect((await h.blobs.getProperties(STAGING, name))!.size).toBeLessThan(512);
    expect(await h.blobs.getProperties(incomingContainerOf(m.machineId), claim)).toBeDefined();
    expect(h.events.events).toContainEqual({ container: STAGING, name });

    // Out of storage once: hydrate reads the upload (exactly its size), applies it, deletes both.
    read.mockClear();
    head.mockClear();
    const props = vi.spyOn(h.blobs, 'getProperties');
    const staged = await readStaged(h.deps, name);
    expect(staged?.data.equals(env)).toBe(true);
    const incoming = (c: unknown[]) => c[0] === incomingContainerOf(m.machineId);
    expect(head.mock.calls.filter(incoming).map((c) => c[2])).toEqual([env.length]);
    expect([...read.mock.calls, ...props.mock.calls].filter(incoming)).toEqual([]);
    vi.restoreAllMocks();
    await hydrateStaged(h.deps, h.opts, name);
    expect(
      (await h.blobs.readRange(REPLICAS, replicaBlobName(m.machineId, 'd0', 1), 0, d.size)).equals(
        d.image,
      ),
    ).toBe(true);
    expect(await h.blobs.list(STAGING, `${m.machineId}/`)).toEqual([]);
    expect(await h.blobs.getProperties(incomingContainerOf(m.machineId), claim)).toBeUndefined();
    expect(await h.blobs.list(BATCHES, `${m.machineId}/`)).toEqual([]);
  });

  it('an upload rewritten after it was staged: the same bytes are applied, other bytes stop the disk at hydrate', async () => {
    for (const kind of ['memory', 'azure'] as const) {
      const h = await harness(kind);
      const m = h.addMachine({ d0: 8 * MiB });
      const d = m.disks[0]!;
      const env = d.batch([data(0, 2 * MiB)]);
      const { claim, ref } = await uploadClaim(h, env);
      expect((await ingestRef(h, ref)).status).toBe('staged');
      // The agent resends (same envelope, same name): a new ETag, the same bytes.
      await h.blobs.putBlockBlob(incomingContainerOf(m.machineId), claim, env);
      const name = stagingBlobName(m.machineId, 'd0', 1, 1);
      expect(await hydrateStaged(h.deps, h.opts, name)).toMatchObject({ appliedSeq: 1 });
      const before = await h.blobs.readRange(
        REPLICAS,
        replicaBlobName(m.machineId, 'd0', 1),
        0,
        d.size,
      );
      expect(before.equals(d.image)).toBe(true);

      // Other bytes of the same size under a staged batch's name: refused, the disk stops.
      const next = d.batch([data(0, 2 * MiB)], undefined, { apply: false });
      const up = await uploadClaim(h, next);
      expect((await ingestRef(h, up.ref)).status).toBe('staged');
      await h.blobs.putBlockBlob(
        incomingContainerOf(m.machineId),
        up.claim,
        randomBytes(next.length),
      );
      const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 2));
      expect(r).toMatchObject({ status: 'stopped', appliedSeq: 1 });
      expect(r.reason).toMatch(/digest recorded at ingest/);
      const after = await h.blobs.readRange(
        REPLICAS,
        replicaBlobName(m.machineId, 'd0', 1),
        0,
        d.size,
      );
      expect(after.equals(before)).toBe(true);
    }
  });

  it('refuses an inline batch of more than 4 MiB of data (it must come as a claim check, which ingest does not decode) and takes it as one', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 4 * MiB + 512)]);
    const r = await ingestEvent(h.deps, h.opts, { body: env, partitionKey: m.machineId });
    expect(r).toMatchObject({ status: 'rejected', kind: 'too-large' });
    expect(await stagedCount(h, m.machineId)).toBe(0);
    const { ref } = await uploadClaim(h, env);
    expect((await ingestRef(h, ref)).status).toBe('staged');
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    const replica = replicaBlobName(m.machineId, 'd0', 1);
    expect((await h.blobs.readRange(REPLICAS, replica, 0, d.size)).equals(d.image)).toBe(true);
  });

  it('refuses a claim check whose blob is truncated, foreign or missing; a lying digest is caught by hydrate', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 2 * MiB)], undefined, { apply: false });
    const { claim, ref } = await uploadClaim(h, env, env.subarray(0, env.length - 100));
    const r = await ingestRef(h, ref);
    expect(r).toMatchObject({ status: 'rejected', kind: 'integrity' });
    const stolen = {
      ...ref,
      blob: `${incomingContainerOf(m.machineId)}/${m.machineId}x/${claim.split('/')[1]}`,
    };
    expect(await ingestRef(h, stolen)).toMatchObject({
      status: 'rejected',
    });
    const missing = {
      ...ref,
      blob: `${incomingContainerOf(m.machineId)}/${m.machineId}/nothing-here`,
    };
    expect(await ingestRef(h, missing)).toMatchObject({
      status: 'rejected',
      kind: 'not-found',
    });
    expect(await stagedCount(h, m.machineId)).toBe(0);
    expect((await rejections(h, m.machineId)).length).toBe(3);
    // The digest is the agent's word until the payload is read: hydrate checks it first.
    await h.blobs.putBlockBlob(incomingContainerOf(m.machineId), claim, env);
    const lying = { ...ref, sha256: 'f'.repeat(64) };
    expect((await ingestRef(h, lying)).status).toBe('staged');
    const hy = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    expect(hy).toMatchObject({ status: 'stopped', appliedSeq: 0 });
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId });
    expect(alerts.items.map((a) => a.doc.kind)).toContain('replication-integrity');
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
