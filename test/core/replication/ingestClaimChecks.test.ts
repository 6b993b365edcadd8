import { describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { incomingContainerOf } from '../../../core/batch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import {
  BATCHES,
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import { readStaged } from '../../../core/replication/stagedBatch';
import { data, harness, ingestRef, rejections, stagedCount, uploadClaim } from './support';

const MiB = 1024 * 1024;

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
});
