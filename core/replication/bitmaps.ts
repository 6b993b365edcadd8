/** Number of set bits (changed blocks) in a bitmap. */
export function popcount(bits: Uint8Array): number {
  let n = 0;
  for (const b of bits) {
    let x = b;
    while (x) {
      x &= x - 1;
      n++;
    }
  }
  return n;
}

/** OR of two bitmaps (merging a dropped point's changes into its successor). */
export function orBitmaps(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.max(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) | (b[i] ?? 0);
  return out;
}
