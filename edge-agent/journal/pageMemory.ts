/** Page-aligned memory kept between its users in this process at most (see givePageMemory). */
const MAX_SPARE = 4;
const WASM_PAGE = 64 * 1024;

/** The one WebAssembly API used (the project's TypeScript libs do not declare its values). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => {
        buffer: SharedArrayBuffer;
      };
    };
  }
).WebAssembly;

const spare: Buffer[] = [];

/**
 * `bytes` of shared memory that starts on a page boundary: a shared WebAssembly memory (V8 maps
 * those page-aligned). A probe cannot find page alignment in a SharedArrayBuffer: a disk that
 * takes 512-byte-aligned DMA accepts an offset 512 bytes from a page boundary, and then every
 * 1 MiB O_DIRECT write straddles 257 pages in 2 segments each and ran ~10x slower (measured on
 * a virtio disk with 254 segments per request: 48 ms against 3.3 ms per write). Memory a closed
 * user gave back comes first: fresh memory costs a page fault per page on its first write.
 * Undefined where such memory cannot be had (the caller probes a SharedArrayBuffer instead).
 */
export function takePageMemory(bytes: number): Buffer | undefined {
  // The most recently given first: its pages are the likeliest to be resident still.
  for (let i = spare.length - 1; i >= 0; i--)
    if (spare[i]!.length === bytes) return spare.splice(i, 1)[0];
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    const mem = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    return Buffer.from(mem.buffer, 0, bytes);
  } catch {
    return undefined;
  }
}

/**
 * Memory from takePageMemory that its user is done with (nothing refers to it any more): the
 * next user in this process gets it (a journal reopened, another disk's), up to MAX_SPARE.
 */
export function givePageMemory(b: Buffer): void {
  if (spare.length < MAX_SPARE && !spare.includes(b)) spare.push(b);
}
