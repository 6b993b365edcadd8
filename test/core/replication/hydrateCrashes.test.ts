import { describe, expect, it } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { REPLICAS, STAGING, stagingBlobName } from '../../../core/replication/names';
import { bookmark, data, harness, replicaBytes, send, watermark, zero } from './support';

const MiB = 1024 * 1024;

describe('hydrate: crashes', () => {
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

  // The next group's page writes run while a group commits (index flush, watermark, point).
  it('a crash in a commit after the next group wrote pages: the point keeps its snapshot', async () => {
    const h = await harness();
    h.opts.mergeBatches = 1;
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 256 * 1024)]));
    await send(h, d, d.batch([data(64 * 1024, 64 * 1024)], bookmark('p1')));
    const atP1 = Buffer.from(d.image);
    // The next group overwrites what p1 holds (one write of 512 KiB at 0), and more.
    await send(h, d, d.batch([data(0, 512 * 1024), data(MiB, 64 * 1024)], bookmark('p2')));
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let nextWrote!: () => void;
    const nextWrites = new Promise<void>((r) => (nextWrote = r));
    h.blobs.uploadPages = async (...args) => {
      const r = await upload(...args);
      if (args[0] === REPLICAS && args[2] === 0 && args[3].length === 512 * 1024) nextWrote();
      return r;
    };
    const replace = h.deps.docs.disks.replace.bind(h.deps.docs.disks);
    let overlapped = false;
    h.deps.docs.disks.replace = async (doc, o) => {
      if (doc.appliedSeq !== 2) return replace(doc, o);
      overlapped = await Promise.race([
        nextWrites.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
      ]);
      throw new Error('crash: before p1’s watermark');
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/crash/);
    expect(overlapped).toBe(true);
    expect((await watermark(h, d))?.appliedSeq).toBe(1);
    h.blobs.uploadPages = upload;
    h.deps.docs.disks.replace = replace;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 3, points: ['p1', 'p2'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const disk = async (id: string) =>
      (
        (await h.deps.docs.points.get(m.machineId, id))!.doc as {
          disks: { sha256: string; snapshot: string }[];
        }
      ).disks[0]!;
    const p1 = await disk('p1');
    expect((await replicaBytes(h, d, 1, p1.snapshot)).equals(atP1)).toBe(true);
    expect(p1.sha256).toBe(d.digest(atP1));
    const p2 = await disk('p2');
    expect((await replicaBytes(h, d, 1, p2.snapshot)).equals(d.image)).toBe(true);
    expect(p2.sha256).toBe(d.digest());
  });

  it('the next group writes no page before the point’s piece is recorded', async () => {
    const h = await harness();
    h.opts.mergeBatches = 1;
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 128 * 1024)], bookmark('q1')));
    const atQ1 = Buffer.from(d.image);
    await send(h, d, d.batch([data(0, 512 * 1024)], bookmark('q2')));
    const upload = h.blobs.uploadPages.bind(h.blobs);
    const writes: number[] = [];
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICAS) writes.push(args[3].length);
      return upload(...args);
    };
    const create = h.deps.docs.points.create.bind(h.deps.docs.points);
    h.deps.docs.points.create = async (doc) => {
      if (doc.type === 'piece' && doc.pointId === 'q1') {
        // The piece write is slow, then the process dies: the next group must not have started.
        await new Promise((r) => setTimeout(r, 300));
        throw new Error('crash: recording q1’s piece');
      }
      return create(doc);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toThrow(/crash/);
    expect(writes).not.toContain(512 * 1024);
    h.blobs.uploadPages = upload;
    h.deps.docs.points.create = create;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ appliedSeq: 2, points: ['q1', 'q2'] });
    const q1 = (await h.deps.docs.points.get(m.machineId, 'q1'))!.doc as {
      disks: { sha256: string; snapshot: string }[];
    };
    expect((await replicaBytes(h, d, 1, q1.disks[0]!.snapshot)).equals(atQ1)).toBe(true);
    expect(q1.disks[0]!.sha256).toBe(d.digest(atQ1));
  });
});
