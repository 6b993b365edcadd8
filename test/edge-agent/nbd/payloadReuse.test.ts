import { describe, expect, it } from 'vitest';
import { randomFillSync } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { consumeSource } from '../../support/consumeSource';
import { tempDir } from './helpers';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;

/**
 * A splitter on a fresh sparse disk, its journal's reused payload memory filled with 0xa5 first
 * (a reader that outlived its hold, the drain thread or a write in flight, would hand those
 * bytes on), and its change source with the drain thread running.
 */
async function poisonedStream() {
  const dir = tempDir();
  const image = join(dir, 'disk.img');
  writeFileSync(image, '');
  truncateSync(image, SIZE);
  const j = MachineJournal.open({
    dir: join(dir, 'j'),
    segmentBytes: 8 * MiB,
    poisonReusedPayloads: true,
  });
  const s = WriteSplitter.open(j, 'd', image, { initialSync: false });
  const source = new JournalChangeSource(j, { windowMs: 2 });
  await source.ready();
  return { image, j, s, source };
}

describe('payload memory reused under a stream', () => {
  it('the drain thread hands out exactly what was written while the memory is reused (and poisoned first)', async () => {
    const { image, j, s, source } = await poisonedStream();
    const replica = Buffer.alloc(SIZE);
    const ac = new AbortController();
    const consumer = consumeSource(source, ac.signal, (r) => {
      if (r.data) r.data.copy(replica, r.offset);
      else replica.fill(0, r.offset, r.offset + r.length);
    });

    // Five passes of 1 MiB writes over the disk, four in flight, each received (as the NBD
    // server receives it) in the journal's payload memory.
    const expected = Buffer.alloc(SIZE);
    const cut = new Map<ArrayBufferLike, Set<number>>();
    let reused = 0;
    for (let i = 0; i < 160; i += 4) {
      const writes: Array<void | Promise<void>> = [];
      for (let k = 0; k < 4; k++) {
        const offset = ((i + k) % 32) * MiB;
        const b = s.payloadBuffer(MiB)!;
        const starts = cut.get(b.buffer) ?? new Set<number>();
        if (starts.has(b.byteOffset)) reused++;
        cut.set(b.buffer, starts.add(b.byteOffset));
        randomFillSync(b);
        b.copy(expected, offset);
        writes.push(s.write(offset, b, false));
      }
      await Promise.all(writes);
    }
    for (let t = 0; source.readLsn <= j.lastLsn; t++) {
      expect(t).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 10));
    }
    ac.abort();
    await consumer;

    expect(reused).toBeGreaterThan(16); // memory of the first passes came back
    expect(cut.size).toBeLessThan(8); // slabs of 16 MiB for 160 MiB written
    expect(readFileSync(image).equals(expected)).toBe(true);
    expect(replica.equals(expected)).toBe(true);
    await source.close();
    await s.close();
    await j.close();
  });

  it('extents are the payload memory itself, held until released: nothing reuses it before', async () => {
    const { j, s, source } = await poisonedStream();
    // The consumer keeps the last 40 MiB of extents (more than two slabs) before it releases
    // them, as a batcher holds what it has not sealed yet: each must still read as written.
    const expected = Buffer.alloc(SIZE);
    const held: Array<{ data: Buffer; release?: () => void; was: Buffer }> = [];
    let heldBytes = 0;
    let received = 0;
    let shared = 0;
    let checked = 0;
    const ac = new AbortController();
    const consumer = (async () => {
      for await (const r of source.changes(ac.signal)) {
        if (r.kind === 'idle') {
          source.committed(r.pos);
          await source.checkpoint();
          continue;
        }
        if (r.kind !== 'extent' || !r.data) continue;
        if (r.data.buffer instanceof SharedArrayBuffer) shared++;
        const was = Buffer.from(expected.subarray(r.offset, r.offset + r.data.length));
        held.push({ data: r.data, release: r.release, was });
        heldBytes += r.data.length;
        received += r.data.length;
        while (heldBytes > 40 * MiB) {
          const h = held.shift()!;
          heldBytes -= h.data.length;
          expect(h.data.equals(h.was)).toBe(true);
          checked++;
          h.release?.();
        }
      }
    })();
    for (let i = 0; i < 120; i += 4) {
      const writes: Array<void | Promise<void>> = [];
      for (let k = 0; k < 4; k++) {
        const offset = ((i + k) % 32) * MiB;
        const b = s.payloadBuffer(MiB)!;
        randomFillSync(b);
        b.copy(expected, offset);
        writes.push(s.write(offset, b, false));
      }
      await Promise.all(writes);
      // Every write reaches the consumer before its range is written again.
      while (received < (i + 4) * MiB) await new Promise((r) => setTimeout(r, 2));
    }
    ac.abort();
    await consumer;
    for (const h of held) expect(h.data.equals(h.was)).toBe(true);
    for (const h of held) h.release?.();
    expect(checked).toBeGreaterThan(60);
    expect(shared).toBeGreaterThan(60); // handed over where they are, not copied
    await source.close();
    await s.close();
    await j.close();
  });
});
