import { describe, expect, it } from 'vitest';
import { mayMergePast, pinPoint } from '../../../core/replication/catchUp';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { materializeUpTo } from '../../../core/replication/materialize';
import { applyRetention } from '../../../core/replication/recoveryPoints';
import { stagingBlobName } from '../../../core/replication/names';
import type { PieceDoc, RecoveryPointDoc } from '../../../core/replication/state';
import { DEFAULT_REPLICATION_OPTIONS } from '../../../core/replication/ports';
import { bookmark, data, harness, replicaBytes, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;
const MINUTE = 60_000;
const opts = { catchUpAfterMs: 10_000, catchUpKeepEveryMs: MINUTE };
const iso = (t: number) => new Date(t).toISOString();

describe('catch-up: which bookmarks a hydrator behind may merge past', () => {
  const now = Date.parse('2026-12-06T10:00:00.000Z');
  const at = (s: number) => iso(now - 5 * MINUTE + s * 1000);
  it('plain crash bookmarks behind, in the bucket of the previous one', () => {
    expect(mayMergePast(opts, bookmark('b', at(2)), at(1), now)).toBe(true);
  });
  it('never the first of a bucket, nor with no previous bookmark known', () => {
    expect(mayMergePast(opts, bookmark('b', at(60)), at(59), now)).toBe(false);
    expect(mayMergePast(opts, bookmark('b', at(2)), undefined, now)).toBe(false);
  });
  it('never app-consistent, group or barrier bookmarks', () => {
    expect(mayMergePast(opts, bookmark('b', at(2), 'app'), at(1), now)).toBe(false);
    expect(mayMergePast(opts, { ...bookmark('b', at(2)), groupId: 'g' }, at(1), now)).toBe(false);
    expect(mayMergePast(opts, { ...bookmark('b', at(2)), barrier: true }, at(1), now)).toBe(false);
  });
  it('never when hydration is not that far behind', () => {
    expect(mayMergePast(opts, bookmark('b', iso(now - 9_000)), iso(now - 10_000), now)).toBe(false);
  });
});

/** Sends `n` one-second bookmarks from `from` (epoch ms), each after a data batch; images at each. */
async function backlog(
  h: Harness,
  disks: TestDisk[],
  from: number,
  n: number,
  o: { app?: number; prefix?: string } = {},
) {
  const images = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const id = `${o.prefix ?? 'p'}${String(i).padStart(3, '0')}`;
    const b = bookmark(id, iso(from + i * 1000), o.app === i ? 'app' : 'crash');
    for (const d of disks) {
      const envs = [
        d.batch([data(((i * 37) % 60) * 16 * 1024, 8 * 1024)]),
        d.batch([data(((i * 53) % 60) * 16 * 1024 + 4096, 4096)], b),
      ];
      // One ingest invocation, as the Event Hubs trigger runs it: it records durable points.
      const out = await ingestEvents(
        h.deps,
        h.opts,
        envs.map((body) => ({ body, partitionKey: d.machine.machineId })),
      );
      expect(out.map((o) => o.status)).toEqual(['staged', 'staged']);
      images.set(`${d.diskId}/${id}`, Buffer.from(d.image));
    }
  }
  return images;
}

async function pointsOf(h: Harness, machineId: string) {
  const page = await h.deps.docs.points.query({ partitionKey: machineId, limit: 1000 });
  const docs = page.items.map((i) => i.doc);
  return {
    points: docs.filter((d): d is RecoveryPointDoc => d.type === 'point'),
    pieces: docs.filter((d): d is PieceDoc => d.type === 'piece'),
  };
}

async function drain(h: Harness, d: TestDisk) {
  return hydrateStaged(h.deps, h.opts, stagingBlobName(d.machine.machineId, d.diskId, 1, 1));
}

describe('catch-up: a hydrator behind merges past bookmarks', () => {
  it('keeps the first point of each minute and the newest, drops the rest; every kept snapshot is exact', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB, d1: 1 * MiB });
    // 90 one-second bookmarks, 5 minutes old, starting 20 s into a minute.
    const from = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE + 20_000;
    const images = await backlog(h, m.disks, from, 90);
    expect((await pointsOf(h, m.machineId)).points).toHaveLength(90);
    for (const d of m.disks) {
      const r = await drain(h, d);
      expect(r.appliedSeq).toBe(180);
      // Up to p000, up to p040, up to p089, the last two split at 64 batches (mergeBatches):
      // five groups where there were 90 bookmarks.
      expect(r.groups).toBe(5);
    }
    const { points, pieces } = await pointsOf(h, m.machineId);
    // p000 (nothing before it), p040 (first of the next minute), p089 (newest staged).
    expect(points.map((p) => p.id).sort()).toEqual(['p000', 'p040', 'p089']);
    expect(points.every((p) => p.materialized && p.disks.length === 2)).toBe(true);
    expect(pieces.map((p) => p.pointId).sort()).toEqual([
      'p000',
      'p000',
      'p040',
      'p040',
      'p089',
      'p089',
    ]);
    for (const p of points)
      for (const piece of p.disks) {
        const d = m.disks.find((x) => x.diskId === piece.diskId)!;
        const snap = await replicaBytes(h, d, 1, piece.snapshot);
        expect(snap.equals(images.get(`${d.diskId}/${p.id}`)!)).toBe(true);
      }
    for (const d of m.disks) expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('never merges past a pinned or app-consistent point, nor when not behind', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const from = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE + 5_000;
    await backlog(h, [d], from, 20, { app: 7 });
    expect(await pinPoint(h.deps, m.machineId, 'p012')).toBe(true);
    await backlog(h, [d], Date.now(), 3, { prefix: 'q' }); // fresh: not behind
    await drain(h, d);
    const ids = (await pointsOf(h, m.machineId)).points.map((p) => p.id).sort();
    // p019 is merged past too: it is behind and no longer the newest staged.
    expect(ids).toEqual(['p000', 'p007', 'p012', 'q000', 'q001', 'q002']);
  });

  it('a pin that lands between the hydrator reading the point and dropping it wins: the point is cut', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const from = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE + 5_000;
    const images = await backlog(h, [d], from, 5);
    const replace = h.deps.docs.points.replace.bind(h.deps.docs.points);
    h.deps.docs.points.replace = async (doc, o) => {
      if (doc.id === 'p002' && doc.type === 'merged-point')
        expect(await pinPoint(h.deps, m.machineId, 'p002')).toBe(true);
      return replace(doc, o);
    };
    await drain(h, d);
    const { points } = await pointsOf(h, m.machineId);
    expect(points.map((p) => p.id).sort()).toEqual(['p000', 'p002', 'p004']);
    const p2 = points.find((p) => p.id === 'p002')!;
    expect(
      (await replicaBytes(h, d, 1, p2.disks[0]!.snapshot)).equals(images.get('d0/p002')!),
    ).toBe(true);
  });

  it('waiting for a point that was merged past fails with a reason; waiting pins one not yet reached', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const from = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE + 5_000;
    await backlog(h, [d], from, 6);
    const waited = await materializeUpTo(h.deps, { ...h.opts, prefetch: 1 }, m.machineId, 'p003');
    expect(waited.state).toBe('materialized');
    const { points } = await pointsOf(h, m.machineId);
    expect(points.map((p) => p.id).sort()).toEqual(['p000', 'p003', 'p005']);
    expect(points.find((p) => p.id === 'p003')?.pinned).toBe(true);
    await expect(materializeUpTo(h.deps, h.opts, m.machineId, 'p002')).rejects.toThrow(
      /merged into a later one/,
    );
  });

  it('Infinity turns it off: every point materializes', async () => {
    const h = await harness('memory');
    h.opts = { ...DEFAULT_REPLICATION_OPTIONS, catchUpAfterMs: Infinity };
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await backlog(h, [d], Date.now() - 5 * MINUTE, 8);
    await drain(h, d);
    const { points } = await pointsOf(h, m.machineId);
    expect(points.filter((p) => p.materialized)).toHaveLength(8);
  });

  it('retention removes the markers of merged points with its horizon', async () => {
    let now = Date.now();
    const h = await harness('memory', () => now);
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const from = Math.floor((now - 5 * MINUTE) / MINUTE) * MINUTE + 5_000;
    await backlog(h, [d], from, 5);
    await drain(h, d);
    const markers = async () =>
      (await h.deps.docs.points.query({ partitionKey: m.machineId, limit: 1000 })).items.filter(
        (i) => i.doc.type === 'merged-point',
      ).length;
    expect(await markers()).toBe(3);
    await applyRetention(h.deps, m.machineId);
    expect(await markers()).toBe(3);
    now += 400 * 24 * 3600_000;
    await applyRetention(h.deps, m.machineId);
    expect(await markers()).toBe(0);
  });
});
