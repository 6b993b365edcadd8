import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { startAzurite } from '../../../local/stack/azurite';
import {
  azuriteRangesManager,
  locateFirstImpactedRange,
  locateLastImpactedRange,
  type PageRange,
} from '../../../local/stack/azuritePageRangeSearch';

const rnd = (n: number) => Math.floor(Math.random() * n);

/** Sorted, disjoint ranges as Azurite keeps them: some adjacent, some with gaps. */
function randomRanges(n: number): PageRange[] {
  const out: PageRange[] = [];
  let at = rnd(3) * 512;
  for (let i = 0; i < n; i++) {
    const len = (1 + rnd(4)) * 512;
    out.push({ start: at, end: at + len - 1 });
    at += len + rnd(3) * 512; // gap of 0 (adjacent), 512 or 1024
  }
  return out;
}

describe('Azurite page-range search (local stack patch)', () => {
  it('finds the same ranges as the emulator’s own searches, for every boundary', () => {
    // The emulator's class, not patched in this process: its originals are the reference.
    const original = new (
      azuriteRangesManager() as unknown as new () => {
        locateFirstImpactedRange(r: PageRange[], a: number, b: number, p: number): number;
        locateLastImpactedRange(r: PageRange[], a: number, b: number, p: number): number;
      }
    )();
    let checked = 0;
    for (let trial = 0; trial < 300; trial++) {
      const ranges = randomRanges(rnd(40));
      const last = ranges[ranges.length - 1]?.end ?? 0;
      const positions = new Set<number>([0, last + 1, last + 513]);
      for (const r of ranges)
        for (const p of [r.start - 1, r.start, r.end, r.end + 1]) positions.add(p);
      for (let k = 0; k < 20; k++) positions.add(rnd(last + 1024));
      const spans: [number, number][] = [[0, ranges.length]];
      for (let k = 0; k < 5; k++) {
        const a = rnd(ranges.length + 1);
        spans.push([a, a + rnd(ranges.length + 1 - a)]);
      }
      for (const p of positions) {
        if (p < 0) continue;
        for (const [a, b] of spans) {
          expect(locateFirstImpactedRange(ranges, a, b, p)).toBe(
            original.locateFirstImpactedRange(ranges, a, b, p),
          );
          expect(locateLastImpactedRange(ranges, a, b, p)).toBe(
            original.locateLastImpactedRange(ranges, a, b, p),
          );
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it('the stack’s Azurite runs with it and keeps page blobs and their snapshots byte-exact', async () => {
    const az = await startAzurite();
    try {
      expect(az.process.spawnargs.some((a) => /azuritePreload\.(ts|js)$/.test(a))).toBe(true);
      const svc = BlobServiceClient.fromConnectionString(az.connectionString);
      const container = svc.getContainerClient('replicas');
      await container.create();
      const blob = container.getPageBlobClient('disk');
      const size = 2 * 1024 * 1024;
      await blob.create(size);
      const model = Buffer.alloc(size);
      let snapshot: { id: string; bytes: Buffer } | undefined;
      for (let i = 0; i < 600; i++) {
        const len = (1 + rnd(16)) * 512;
        const off = rnd((size - len) / 512 + 1) * 512;
        if (i % 10 === 9) {
          await blob.clearPages(off, len);
          model.fill(0, off, off + len);
        } else {
          const data = randomBytes(len);
          await blob.uploadPages(data, off, len);
          data.copy(model, off);
        }
        if (i === 300) {
          const s = await blob.createSnapshot();
          snapshot = { id: s.snapshot!, bytes: Buffer.from(model) };
        }
      }
      expect((await blob.downloadToBuffer()).equals(model)).toBe(true);
      const then = await blob.withSnapshot(snapshot!.id).downloadToBuffer();
      expect(then.equals(snapshot!.bytes)).toBe(true);
    } finally {
      await az.stop();
    }
  });
});
