/**
 * The slices cut from one slab and who holds each (see AlignedSlabs): slices are cut in address
 * order, so a view of memory in the slab finds its slice by binary search.
 */
export class SlabSlices {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly holds: number[] = [];
  /** The receiver's hold from `add`, not adopted yet. */
  private readonly unadopted: boolean[] = [];
  /** Slices still held. */
  live = 0;

  /** A new slice, held once (by its receiver). */
  add(at: number, length: number): void {
    this.starts.push(at);
    this.ends.push(at + length);
    this.holds.push(1);
    this.unadopted.push(true);
    this.live++;
  }

  /** The start of the slice holding byte `pos`, if one does. */
  sliceAt(pos: number): number | undefined {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! > pos) hi = mid - 1;
      else if (this.ends[mid]! <= pos) lo = mid + 1;
      else return this.starts[mid];
    }
    return undefined;
  }

  private index(at: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.starts[mid]!;
      if (s === at) return mid;
      if (s > at) hi = mid - 1;
      else lo = mid + 1;
    }
    throw new Error(`slab: no slice at ${at}`);
  }

  /** Hands the receiver's hold over once: true the first time. */
  adopt(at: number): boolean {
    const i = this.index(at);
    if (!this.unadopted[i]) return false;
    this.unadopted[i] = false;
    return true;
  }

  hold(at: number): void {
    const i = this.index(at);
    if (this.holds[i] === 0) throw new Error(`slab: slice at ${at} held after its release`);
    this.holds[i] = this.holds[i]! + 1;
  }

  /** Drops one hold; true when that emptied the slab (no slice held any more). */
  release(at: number): boolean {
    const i = this.index(at);
    if (this.holds[i] === 0) return false;
    if (--this.holds[i]! > 0) return false;
    return --this.live === 0;
  }
}
