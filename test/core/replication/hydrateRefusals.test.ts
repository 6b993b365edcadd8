import { describe, expect, it } from 'vitest';
import {
  claimBlobPath,
  envelopeDigest,
  incomingContainerOf,
  peekHeader,
} from '../../../core/batch';
import { isHavenError } from '../../../core/errors';
import { hydrateStaged } from '../../../core/replication/hydrate';
import {
  BATCHES,
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import { batchBlobName, encodeStagedPointer } from '../../../core/replication/stagedBatch';
import {
  data,
  firstBatchApplied,
  harness,
  replicaBytes,
  send,
  sendClaimed,
  watermark,
  type Harness,
} from './support';

const MiB = 1024 * 1024;

describe('hydrate: duplicates and bad staged blobs', () => {
  it('duplicates: same content is a no-op; other content is a conflict that stops the disk, replica unchanged', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    const first = d.batch([data(0, 4096, 1)]);
    expect((await send(h, d, first)).status).toBe('staged');
    expect((await send(h, d, first)).status).toBe('duplicate'); // still staged
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect((await send(h, d, first)).status).toBe('duplicate'); // already applied
    const before = await replicaBytes(h, d);
    const liar = d.batch([data(0, 4096, 2)], undefined, { seq: 1, apply: false });
    const r = await send(h, d, liar);
    expect(r.status).toBe('conflict');
    const state = await watermark(h, d);
    expect(state?.stopped?.reason).toMatch(/Conflicting batch/);
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId });
    expect(alerts.items.map((a) => a.doc.kind)).toContain('replication-conflict');
    // A stopped disk takes nothing more.
    const next = d.batch([data(8192, 512, 3)], undefined, { apply: false });
    expect(await send(h, d, next)).toMatchObject({ status: 'rejected', kind: 'conflict' });
    expect((await replicaBytes(h, d)).equals(before)).toBe(true);
  });

  it('a conflicting duplicate while the first is still staged stops the disk too', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 512, 1)]));
    const r = await send(h, d, d.batch([data(0, 512, 9)], undefined, { seq: 1, apply: false }));
    expect(r.status).toBe('conflict');
    const out = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(out.status).toBe('stopped');
    // Nothing applied: the replica holds only zeros, or was never created. Any other failure to
    // read it is a failure of the test, not zeros.
    const bytes = await replicaBytes(h, d).catch((e: unknown) => {
      if (isHavenError(e) && e.kind === 'not-found') return Buffer.alloc(d.size);
      throw e;
    });
    expect(bytes.every((b) => b === 0)).toBe(true);
  });

  it('a corrupted staged blob is refused: disk stopped, replica unchanged', async () => {
    const { h, m, d } = await firstBatchApplied();
    const before = await replicaBytes(h, d);
    await send(h, d, d.batch([data(0, 4096, 2)], undefined, { apply: false }));
    const name = stagingBlobName(m.machineId, d.diskId, 1, 2);
    const staged = (await h.blobs.readBlob(STAGING, name))!;
    staged.data[staged.data.length - 40]! ^= 0x01; // one bit of ciphertext at rest
    await h.blobs.deleteBlob(STAGING, name);
    await h.blobs.putBlockBlob(STAGING, name, staged.data, staged.metadata);
    const r = await hydrateStaged(h.deps, h.opts, name);
    expect(r.status).toBe('stopped');
    expect(r.reason).toMatch(/digest|authentication/);
    expect((await replicaBytes(h, d)).equals(before)).toBe(true);
    expect((await watermark(h, d))?.appliedSeq).toBe(1);
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId });
    expect(alerts.items.map((a) => a.doc.kind)).toContain('replication-integrity');
  });

  it('a replica gone after batches were applied to it is not made again from zeros: disk stopped', async () => {
    const { h, m, d } = await firstBatchApplied();
    // Deleted, or in another account than the one the store now looks in.
    const replica = replicaBlobName(m.machineId, d.diskId, 1);
    expect(await h.blobs.deleteBlob(REPLICAS, replica)).toBe(true);
    await send(h, d, d.batch([data(8192, 4096, 2)]));
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r).toMatchObject({ status: 'stopped', appliedSeq: 1 });
    expect(r.reason).toMatch(/replica .* is missing though 1 batches were applied/);
    expect(await h.blobs.getProperties(REPLICAS, replica)).toBeUndefined();
    expect((await watermark(h, d))?.stopped).toMatchObject({ seq: 2 });
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId });
    expect(alerts.items.map((a) => a.doc.kind)).toEqual(['replication-integrity']);
  });

  it('a refusal whose alert write fails leaves the disk running; the next hydrate stops it with its alert', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4096, 1)], undefined, { apply: false }));
    const name = stagingBlobName(m.machineId, d.diskId, 1, 1);
    const staged = (await h.blobs.readBlob(STAGING, name))!;
    staged.data[staged.data.length - 40]! ^= 0x01;
    await h.blobs.deleteBlob(STAGING, name);
    await h.blobs.putBlockBlob(STAGING, name, staged.data, staged.metadata);
    // The host dies (here: the write fails) when the alert is written.
    const alerts = h.deps.docs.alerts;
    const create = alerts.create.bind(alerts);
    alerts.create = () => Promise.reject(new Error('host gone'));
    await expect(hydrateStaged(h.deps, h.opts, name)).rejects.toThrow('host gone');
    alerts.create = create;
    // Stopped with no alert would be for ever: hydrate never looks at a stopped disk again.
    expect((await watermark(h, d))?.stopped).toBeUndefined();
    const r = await hydrateStaged(h.deps, h.opts, name);
    expect(r.status).toBe('stopped');
    expect((await watermark(h, d))?.stopped?.seq).toBe(1);
    const raised = await alerts.query({ partitionKey: m.machineId });
    expect(raised.items.map((a) => [a.doc.kind, a.doc.seq])).toEqual([
      ['replication-integrity', 1],
    ]);
  });

  it('a pointer whose payload is gone, altered or misnamed is refused: disk stopped, replica unchanged', async () => {
    const upload = (env: Buffer) => claimBlobPath(peekHeader(env));
    const tamper = {
      gone: (h: Harness, _name: string, env: Buffer) =>
        h.blobs.deleteBlob(incomingContainerOf(peekHeader(env).machineId), upload(env)),
      altered: async (h: Harness, _name: string, env: Buffer) => {
        const other = Buffer.from(env);
        other[other.length - 1]! ^= 0x80;
        await h.blobs.putBlockBlob(
          incomingContainerOf(peekHeader(env).machineId),
          upload(env),
          other,
        );
      },
      resized: async (h: Harness, _name: string, env: Buffer) => {
        await h.blobs.putBlockBlob(
          incomingContainerOf(peekHeader(env).machineId),
          upload(env),
          Buffer.concat([env, Buffer.alloc(512)]),
        );
      },
      misnamed: async (h: Harness, name: string, env: Buffer) => {
        const meta = (await h.blobs.getProperties(STAGING, name))!.metadata;
        // Another machine's upload: a pointer may only name its own machine's.
        const blob = `someone-else/${upload(env).split('/')[1]}`;
        await h.blobs.putBlockBlob(
          STAGING,
          name,
          encodeStagedPointer({
            container: incomingContainerOf(peekHeader(env).machineId),
            blob,
            size: env.length,
            sha256: envelopeDigest(env),
          }),
          meta,
        );
      },
      'misnamed copy': async (h: Harness, name: string, env: Buffer) => {
        const meta = (await h.blobs.getProperties(STAGING, name))!.metadata;
        await h.blobs.putBlockBlob(
          STAGING,
          name,
          encodeStagedPointer({
            container: BATCHES,
            blob: batchBlobName(name, '0'.repeat(64)),
            size: env.length,
            sha256: envelopeDigest(env),
          }),
          meta,
        );
      },
    };
    for (const [how, mutate] of Object.entries(tamper)) {
      const h = await harness();
      const m = h.addMachine({ d0: 4 * MiB });
      const d = m.disks[0]!;
      await send(h, d, d.batch([data(0, 4096, 1)]));
      await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
      const before = await replicaBytes(h, d);
      const env = d.batch([data(0, 2 * MiB, 2)], undefined, { apply: false });
      await sendClaimed(h, env);
      const name = stagingBlobName(m.machineId, d.diskId, 1, 2);
      await mutate(h, name, env);
      const r = await hydrateStaged(h.deps, h.opts, name);
      expect(r.status, how).toBe('stopped');
      expect(r.reason, how).toMatch(/gone|another size|digest|does not name/);
      expect((await replicaBytes(h, d)).equals(before), how).toBe(true);
      expect((await watermark(h, d))?.appliedSeq, how).toBe(1);
    }
  });

  it('a late duplicate staged after apply is deleted as a no-op', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 4096, 1)]);
    await send(h, d, env);
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    // The ingest of a redelivery raced the hydrator: it re-staged seq 1 after it was applied.
    const name = stagingBlobName(m.machineId, d.diskId, 1, 1);
    await h.blobs.putBlockBlobIfAbsent(STAGING, name, env, { sha256: envelopeDigest(env) });
    const r = await hydrateStaged(h.deps, h.opts, name);
    expect(r).toMatchObject({ status: 'drained', applied: 0, appliedSeq: 1 });
    expect(await h.blobs.getProperties(STAGING, name)).toBeUndefined();
    expect((await watermark(h, d))?.stopped).toBeUndefined();
  });
});
