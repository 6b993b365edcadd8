import { describe, expect, it, vi } from 'vitest';
import {
  claimBlobPath,
  envelopeDigest,
  incomingContainerOf,
  peekHeader,
} from '../../../core/batch';
import { isHavenError } from '../../../core/errors';
import { ingestEvent } from '../../../core/replication/ingest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import {
  BATCHES,
  REPLICA_INDEX,
  indexBlobName,
  REPLICAS,
  STAGING,
  replicaBlobName,
  replicaBlobSize,
  stagingBlobName,
} from '../../../core/replication/names';
import { batchBlobName, encodeStagedPointer } from '../../../core/replication/stagedBatch';
import { isVhdFooter, vhdFooterSize } from '../../../core/replication/vhdFooter';
import {
  bookmark,
  data,
  harness,
  replicaBytes,
  sendClaimed,
  watermark,
  zero,
  type Harness,
  type TestDisk,
} from './support';

const MiB = 1024 * 1024;

async function send(h: Harness, disk: TestDisk, env: Buffer) {
  return ingestEvent(h.deps, h.opts, { body: env, partitionKey: disk.machine.machineId });
}

describe('hydrate', () => {
  it('applies batches in order: exact bytes, fixed VHD footer, staged blobs removed', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 3 * MiB + 512 * 7 }); // not a multiple of 64 KiB nor 1 MiB
    const d = m.disks[0]!;
    const envs = [
      d.batch([data(0, 256 * 1024), data(1 * MiB + 1536, 5120)]),
      d.batch([zero(4096, 8192), data(2 * MiB, 64 * 1024, 0xab)]),
      d.batch([data(d.size - 1024, 1024), zero(1 * MiB, 1 * MiB)]),
    ];
    for (const env of envs) expect((await send(h, d, env)).status).toBe('staged');
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 3, applied: 3 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const name = replicaBlobName(m.machineId, d.diskId, 1);
    const props = await h.blobs.getProperties(REPLICAS, name);
    expect(props?.size).toBe(replicaBlobSize(d.size));
    expect(props!.size).toBe(4 * MiB + 512);
    const footer = await h.blobs.readRange(REPLICAS, name, props!.size - 512, 512);
    expect(isVhdFooter(footer)).toBe(true);
    expect(vhdFooterSize(footer)).toBe(4 * MiB);
    expect(await h.blobs.list(STAGING, `${m.machineId}/`)).toEqual([]);
    expect((await watermark(h, d))?.appliedSeq).toBe(3);
  });

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

  it('out of order: a gap waits, the missing batch drains everything', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    const e1 = d.batch([data(0, 8192)]);
    const e2 = d.batch([data(4096, 8192)]);
    const e3 = d.batch([data(65536 - 512, 1024)]);
    await send(h, d, e3);
    await send(h, d, e2);
    let r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 3));
    expect(r).toMatchObject({ status: 'drained', applied: 0, appliedSeq: 0 });
    expect((await h.blobs.list(STAGING, `${m.machineId}/`)).length).toBe(2);
    await send(h, d, e1);
    r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', applied: 3, appliedSeq: 3 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('two hydrators at once: the lease lets one write; the result is exact', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 4 * MiB });
    const d = m.disks[0]!;
    for (let i = 0; i < 12; i++)
      await send(h, d, d.batch([data((i * 197 * 512) % (3 * MiB), 96 * 1024)]));
    const names = [1, 5, 12, 7].map((s) => stagingBlobName(m.machineId, d.diskId, 1, s));
    const results = await Promise.all(names.map((n) => hydrateStaged(h.deps, h.opts, n)));
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(12);
    expect(results.some((r) => r.status === 'busy')).toBe(true);
    expect((await watermark(h, d))?.appliedSeq).toBe(12);
    expect((await watermark(h, d))?.batchesApplied).toBe(12);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a batch staged while another hydrator holds the lease is drained by the holder', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 512, 1)]));
    const second = d.batch([data(512, 512, 2)]);
    // Stage seq 2 while the first hydrator is in the middle of applying seq 1.
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let staged = false;
    h.blobs.uploadPages = async (...args) => {
      if (!staged && args[0] === REPLICAS && args[2] < d.size) {
        staged = true;
        await send(h, d, second);
        const other = await hydrateStaged(
          h.deps,
          h.opts,
          stagingBlobName(m.machineId, d.diskId, 1, 2),
        );
        expect(other.status).toBe('busy');
      }
      return upload(...args);
    };
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r.appliedSeq).toBe(2);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('crash between page write and watermark: the re-run gives exact bytes and digest', async () => {
    const h = await harness();
    h.opts.mergeBatches = 1; // a watermark write per batch: crash right after batch 2's pages
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 200 * 1024)]));
    await send(h, d, d.batch([data(100 * 1024, 300 * 1024), zero(0, 4096)]));
    await send(h, d, d.batch([data(70 * 1024, 1024)], bookmark('p1')));
    const replace = h.deps.docs.disks.replace.bind(h.deps.docs.disks);
    let calls = 0;
    h.deps.docs.disks.replace = async (doc, o) => {
      if (++calls === 2) throw new Error('crash: process killed before the watermark moved');
      return replace(doc, o);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/crash/);
    expect((await watermark(h, d))?.appliedSeq).toBe(1);
    h.deps.docs.disks.replace = replace;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 3, points: ['p1'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const piece = await h.deps.docs.points.get(m.machineId, 'p1');
    expect(piece?.doc).toMatchObject({ type: 'point' });
    expect((piece!.doc as { disks: { sha256: string }[] }).disks[0]!.sha256).toBe(d.digest());
  });

  it('merges waiting batches: overlaps resolved by seq order even when page writes finish out of order', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    // Page writes finish out of order (random latency): only the hydrator's ordering keeps a
    // later batch's bytes on top of an earlier batch's at the same offsets.
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let maxReplicaWrites = 0;
    let replicaWrites = 0;
    let small = 0;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] !== REPLICAS) return upload(...args);
      maxReplicaWrites = Math.max(maxReplicaWrites, ++replicaWrites);
      // Every other small write is slow, so a batch's write would land after its successor's.
      const slow = args[3].length === 1024 ? small++ % 2 === 0 : false;
      await new Promise((r) => setTimeout(r, slow ? 25 : Math.random() * 5));
      try {
        return await upload(...args);
      } finally {
        replicaWrites--;
      }
    };
    const at = (i: number) => (i % 6) * MiB + (i % 3) * 4096; // batches 6 apart share blocks
    for (let i = 0; i < 48; i++) {
      const extents = [data(at(i), 64 * 1024 + 4096), data(7 * MiB + (i % 2) * 512, 1024)];
      await send(h, d, d.batch(extents, i === 47 ? bookmark('pl') : undefined));
    }
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 48, points: ['pl'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const point = (await h.deps.docs.points.get(m.machineId, 'pl'))!.doc as {
      disks: { sha256: string }[];
    };
    expect(point.disks[0]!.sha256).toBe(d.digest());
    expect(maxReplicaWrites).toBeGreaterThan(1);
  });

  it('crash in the middle of page writes and after the piece: re-runs are exact', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4 * MiB)]));
    await send(h, d, d.batch([data(3 * MiB + 512, 1 * MiB), zero(0, 2 * MiB)], bookmark('b1')));
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let n = 0;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICAS && ++n === 2) throw new Error('crash: mid-write');
      return upload(...args);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/crash/);
    h.blobs.uploadPages = upload;
    // Crash after the piece was recorded but before the watermark moved past the bookmark.
    const replace = h.deps.docs.disks.replace.bind(h.deps.docs.disks);
    h.deps.docs.disks.replace = async (doc, o) => {
      if (doc.appliedSeq === 2) throw new Error('crash: after piece');
      return replace(doc, o);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/after piece/);
    h.deps.docs.disks.replace = replace;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r.appliedSeq).toBe(2);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const point = (await h.deps.docs.points.get(m.machineId, 'b1'))!.doc as {
      disks: { sha256: string; snapshot: string }[];
    };
    expect(point.disks[0]!.sha256).toBe(d.digest());
    const snap = await replicaBytes(h, d, 1, point.disks[0]!.snapshot);
    expect(snap.equals(d.image)).toBe(true);
  });

  it('a corrupted staged blob is refused: disk stopped, replica unchanged', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4096, 1)]));
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
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

  it('a hydrator that loses its lease writes neither pages nor digests; the new holder is exact', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 128 * 1024, 1)]));
    await send(h, d, d.batch([data(64 * 1024, 512, 2)], bookmark('lp')));
    const replica = replicaBlobName(m.machineId, d.diskId, 1);
    const index = indexBlobName(m.machineId, d.diskId, 1);
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let stolen: string | undefined;
    let taking: Promise<void> | undefined;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICA_INDEX) {
        // Another hydrator takes over between our page writes and our index writes.
        taking ??= takeOver();
        await taking;
      }
      return upload(...args);
    };
    const takeOver = async () => {
      await h.blobs.breakLease(REPLICAS, replica, 0);
      stolen = await h.blobs.acquireLease(REPLICAS, replica, 30);
      await h.blobs.breakLease(REPLICA_INDEX, index, 0);
      await h.blobs.acquireLease(REPLICA_INDEX, index, 30, stolen);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
    expect((await watermark(h, d))?.appliedSeq).toBe(0);
    expect((await h.blobs.readRange(REPLICA_INDEX, index, 0, 512)).every((b) => b === 0)).toBe(
      true,
    );
    // While the intruder holds the lease, nobody else writes.
    expect(
      (await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1))).status,
    ).toBe('busy');
    await h.blobs.releaseLease(REPLICA_INDEX, index, stolen!);
    await h.blobs.releaseLease(REPLICAS, replica, stolen!);
    h.blobs.uploadPages = upload;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r, JSON.stringify(r)).toMatchObject({ appliedSeq: 2, points: ['lp'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const p = (await h.deps.docs.points.get(m.machineId, 'lp'))!.doc as {
      disks: { sha256: string }[];
    };
    expect(p.disks[0]!.sha256).toBe(d.digest());
  });

  it('a batch slower than the lease keeps it: renewed in the background, nobody else writes', async () => {
    const h = await harness('memory'); // its leases expire by Date, which the test moves
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 64 * 1024, 1)], bookmark('slow')));
    const opts = { ...h.opts, leaseSeconds: 15 };
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let reached!: () => void;
    const atWrite = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let gated = false;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICAS && args[2] === 0 && !gated) {
        gated = true; // only the first hydrator's first page write hangs
        reached();
        await gate;
      }
      return upload(...args);
    };
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const first = hydrateStaged(h.deps, opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
      await atWrite;
      await vi.advanceTimersByTimeAsync(40_000); // well past the 15 s lease
      const second = await hydrateStaged(
        h.deps,
        opts,
        stagingBlobName(m.machineId, d.diskId, 1, 1),
      );
      expect(second.status).toBe('busy');
      release();
      expect(await first).toMatchObject({ status: 'drained', appliedSeq: 1, points: ['slow'] });
    } finally {
      vi.useRealTimers();
      h.blobs.uploadPages = upload;
    }
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a stale index lease left by a crashed holder is broken by the replica lease holder', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4096, 3)]));
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    // The crashed holder's replica lease is gone, its index lease is not (yet).
    await h.blobs.acquireLease(REPLICA_INDEX, indexBlobName(m.machineId, d.diskId, 1), 60);
    await send(h, d, d.batch([data(4096, 4096, 4)]));
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 2 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('merged groups: a crash before a group’s watermark write re-applies the whole group exactly', async () => {
    const h = await harness();
    h.opts.mergeBatches = 4;
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    for (let i = 0; i < 6; i++)
      await send(h, d, d.batch([data(((i * 37) % 20) * 32 * 1024 + 512 * i, 48 * 1024)]));
    await send(h, d, d.batch([zero(0, 8192)], bookmark('gc')));
    const replace = h.deps.docs.disks.replace.bind(h.deps.docs.disks);
    h.deps.docs.disks.replace = async (doc, o) => {
      if (doc.appliedSeq === 7) throw new Error('crash: before the second group commit');
      return replace(doc, o);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/crash/);
    const mid = await watermark(h, d);
    expect(mid?.appliedSeq).toBe(4); // the first group of 4 is committed; 5–7 are not
    expect(
      await h.blobs.getProperties(STAGING, stagingBlobName(m.machineId, d.diskId, 1, 5)),
    ).toBeDefined();
    h.deps.docs.disks.replace = replace;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 5));
    expect(r).toMatchObject({ appliedSeq: 7, applied: 3, points: ['gc'] });
    expect((await watermark(h, d))?.batchesApplied).toBe(7);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const p = (await h.deps.docs.points.get(m.machineId, 'gc'))!.doc as {
      disks: { sha256: string }[];
    };
    expect(p.disks[0]!.sha256).toBe(d.digest());
  });
});
