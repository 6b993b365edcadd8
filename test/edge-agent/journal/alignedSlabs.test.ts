import { describe, expect, it } from 'vitest';
import { AlignedSlabs } from '../../../edge-agent/journal/alignedSlabs';
import { tempDir } from '../nbd/helpers';

const MiB = 1024 * 1024;

function open(poison = false): AlignedSlabs {
  const slabs = AlignedSlabs.open(tempDir(), { poison });
  if (!slabs) throw new Error('no O_DIRECT here');
  return slabs;
}

/** Where `b` lies: its memory and its start in it. */
const at = (b: Buffer) => ({ buffer: b.buffer, offset: b.byteOffset });

describe('payload memory (aligned slabs)', () => {
  it('slabs start on a page boundary, not merely where O_DIRECT takes them', () => {
    // A disk taking 512-byte-aligned DMA accepts memory 512 bytes off a page; 1 MiB writes from
    // there ran ~10x slower. Slabs are shared WebAssembly memory, which starts on a page: the
    // first slice is the start of its memory (a probed SharedArrayBuffer's would lie at the
    // offset the probe found, 16 bytes short of a page in glibc's mmap chunks).
    const slabs = open();
    const a = slabs.take(MiB)!;
    expect(a.byteOffset).toBe(0);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer.byteLength).toBe(16 * MiB);
    slabs.close();
  });

  it("an allocator's emptied slabs go to the next one in the process; held ones do not", () => {
    const first = open();
    const held = first.take(16 * MiB)!; // the first slab, whole
    const releaseHeld = first.adopt(held);
    const emptied = first.take(16 * MiB)!; // seals the first (still held): a second slab
    first.adopt(emptied)(); // the second is empty again
    first.close();
    const next = open();
    expect(next.take(16 * MiB)!.buffer).toBe(emptied.buffer); // no fresh memory
    expect(next.take(16 * MiB)!.buffer).not.toBe(held.buffer); // its holder still reads it
    releaseHeld();
    next.close();
  });

  it('a full slab is cut again only once every hold on each of its slices is released', () => {
    const slabs = open();
    const a = slabs.take(8 * MiB)!;
    const b = slabs.take(8 * MiB)!; // the first slab is full now
    const releaseA = slabs.adopt(a);
    const releaseB = slabs.adopt(b);
    const inFlight = slabs.pin(b.subarray(MiB, 2 * MiB)); // a write from part of it
    const c = slabs.take(16 * MiB)!; // seals the first slab: a second one
    expect(c.buffer).not.toBe(a.buffer);
    releaseA();
    releaseB();
    expect(slabs.stats.reused).toBe(0); // the write in flight still reads b
    inFlight();
    expect(slabs.stats.reused).toBe(1);
    const again = slabs.take(8 * MiB)!; // the second slab is full: the first comes back
    expect(at(again)).toEqual(at(a));
    expect(slabs.stats.allocated).toBe(2);
    slabs.close();
  });

  it('a release called twice frees nothing more; a hold never released keeps its slab', () => {
    const slabs = open();
    const a = slabs.take(16 * MiB)!;
    const releaseA = slabs.adopt(a);
    expect(slabs.adopt(a)).not.toBe(releaseA); // adopted once only: later calls get a no-op
    const kept = slabs.pin(a);
    const b = slabs.take(16 * MiB)!; // seals the first slab
    releaseA();
    releaseA();
    expect(slabs.stats.reused).toBe(0); // `kept` still holds it
    kept();
    expect(slabs.stats.reused).toBe(1);
    slabs.adopt(b); // b's receiver never releases it (a connection dropped mid-request)
    slabs.take(MiB); // seals the second slab, which stays held
    slabs.take(16 * MiB); // neither the first (in use again) nor the second comes back
    expect(slabs.stats).toEqual({ allocated: 3, reused: 1 });
    slabs.close();
  });

  it('memory not from a slab is left alone, and a released slice cannot be held again', () => {
    const slabs = open();
    const plain = Buffer.alloc(MiB);
    expect(slabs.owns(plain)).toBe(false);
    expect(() => slabs.pin(plain)()).not.toThrow();
    expect(() => slabs.adopt(plain)()).not.toThrow();
    expect(slabs.take(64 * 1024)).toBeUndefined(); // small payloads go through the page cache
    const a = slabs.take(MiB)!;
    slabs.adopt(a)();
    expect(() => slabs.pin(a)).toThrow(/held after its release/);
    slabs.close();
  });

  it('poisons a slab before it is cut again, when asked', () => {
    const slabs = open(true);
    const a = slabs.take(16 * MiB)!;
    a.fill(1);
    slabs.adopt(a)();
    const again = slabs.take(MiB)!; // seals the first slab, all released: cut again at once
    expect(slabs.stats).toEqual({ allocated: 1, reused: 1 });
    expect(at(again)).toEqual(at(a));
    expect(again.every((x) => x === 0xa5)).toBe(true);
    slabs.close();
  });
});
