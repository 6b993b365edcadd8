import { closeSync, fdatasync, fsyncSync, openSync, read, writev } from 'node:fs';

/** Positional file I/O of the partition log's segments, as promises, short reads and writes finished. */

function writeAt(fd: number, bufs: Buffer[], position: number): Promise<number> {
  return new Promise((res, rej) => writev(fd, bufs, position, (e, n) => (e ? rej(e) : res(n))));
}

/** Writes every buffer in order from `position`, 512 buffers a call (within IOV_MAX, 1024 on Linux). */
export async function writevAll(fd: number, bufs: Buffer[], position: number): Promise<void> {
  let pos = position;
  for (let i = 0; i < bufs.length; i += 512) {
    const chunk = bufs.slice(i, i + 512);
    const total = chunk.reduce((n, b) => n + b.length, 0);
    const written = await writeAt(fd, chunk, pos);
    pos += written;
    if (written < total) {
      // Short writes are legal; finish the rest from one buffer.
      const rest = Buffer.concat(chunk).subarray(written);
      for (let off = 0; off < rest.length;) {
        const n = await writeAt(fd, [rest.subarray(off)], pos);
        off += n;
        pos += n;
      }
    }
  }
}

/** Fills `buf` from `position`; a file that ends before is an error. */
export async function readFullyAt(fd: number, buf: Buffer, position: number): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const r = await new Promise<number>((res, rej) =>
      read(fd, buf, got, buf.length - got, position + got, (e, b) => (e ? rej(e) : res(b))),
    );
    if (r === 0) throw new Error('short read from partition log');
    got += r;
  }
}

export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
}

/** Makes a new file's directory entry durable. */
export function fsyncDirectory(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
