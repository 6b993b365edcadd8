import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { readSocketInto, type SocketSink } from '../../../edge-agent/nbd/socketReads';
import type { BlockDevice } from '../../../edge-agent/nbd/blockDevice';
import { NbdServer } from '../../../edge-agent/nbd/server';
import * as P from '../../../edge-agent/nbd/protocol';
import { tempDir } from './helpers';
import { RawNbd } from './rawNbd';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pause = () => new Promise((r) => setTimeout(r, 5));

/** Sends `bytes` in pieces of the given sizes, pausing between them (separate socket reads). */
async function sendInPieces(sock: Socket, bytes: Buffer, pieces: number[]): Promise<void> {
  let at = 0;
  for (const n of pieces) {
    sock.write(bytes.subarray(at, at + n));
    at += n;
    await pause();
  }
  sock.write(bytes.subarray(at));
}

describe('reads into buffers the connection chooses (socketReads.ts)', () => {
  const dir = tempDir();
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('fills a target in place; bytes before and after it come as chunks, in order', async () => {
    const head = randomBytes(100);
    const payload = randomBytes(MiB);
    const tail = randomBytes(5000);
    const chunks: Buffer[] = [];
    let target: Buffer | undefined;
    let filled = 0;
    let direct = false;
    let got = 0;
    const done = new Promise<void>((resolve) => {
      server = createServer({ pauseOnConnect: true }, (s) => {
        const sink: SocketSink = {
          // The target appears once the 100-byte "header" is in, as a connection's would.
          target: () => (target && filled < target.length ? target.subarray(filled) : undefined),
          filled: (n) => {
            filled += n;
            got += n;
          },
          chunk: (b) => {
            chunks.push(Buffer.from(b));
            got += b.length;
            if (!target && got >= 100) {
              target = Buffer.alloc(MiB);
              // Bytes of the payload that came with the header are the connection's to move.
              const extra = got - 100;
              Buffer.concat(chunks).subarray(100).copy(target);
              filled = extra;
            }
            if (got === 100 + MiB + tail.length) resolve();
          },
        };
        direct = readSocketInto(s, sink);
        s.on('end', () => s.end());
      });
    });
    const path = join(dir, 'reads.sock');
    await new Promise<void>((r) => server!.listen(path, r));
    const c = connect(path);
    await new Promise((r) => c.once('connect', r));
    await sendInPieces(c, head, [100]);
    await sendInPieces(c, payload, [3000, 200 * 1024]);
    c.write(tail);
    await done;
    c.end();
    expect(direct).toBe(true); // this Node version takes the direct path
    expect(sha(target!)).toBe(sha(payload));
    const rest = Buffer.concat(chunks);
    expect(rest.subarray(0, 100).equals(head)).toBe(true);
    expect(rest.subarray(rest.length - tail.length).equals(tail)).toBe(true);
    // Most of the payload never passed through a chunk: at most the first read's worth did.
    expect(rest.length - 100 - tail.length).toBeLessThanOrEqual(256 * 1024);
  });

  it('a read without a target takes at most what the sink allows', async () => {
    const bytes = randomBytes(300 * 1024);
    const chunks: Buffer[] = [];
    let limit: number | undefined = 28;
    const done = new Promise<void>((resolve) => {
      server = createServer({ pauseOnConnect: true }, (s) => {
        readSocketInto(s, {
          target: () => undefined,
          filled: () => undefined,
          readLimit: () => limit,
          chunk: (b) => {
            chunks.push(Buffer.from(b));
            if (chunks.length === 3) limit = undefined; // then as many as fit
            if (Buffer.concat(chunks).length === bytes.length) resolve();
          },
        });
      });
    });
    const path = join(dir, 'limit.sock');
    await new Promise<void>((r) => server!.listen(path, r));
    const c = connect(path);
    c.write(bytes); // all in the socket before the first read
    await done;
    c.end();
    expect(chunks.slice(0, 3).map((b) => b.length)).toEqual([28, 28, 28]);
    expect(chunks[3]!.length).toBeGreaterThan(28);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });

  it("falls back to 'data' events on a stream without the fields", async () => {
    const s = new PassThrough();
    const got: Buffer[] = [];
    const direct = readSocketInto(s as unknown as Socket, {
      target: () => Buffer.alloc(10),
      filled: () => {
        throw new Error('no direct reads on the fallback');
      },
      chunk: (b) => got.push(b),
    });
    s.write(Buffer.from('abc'));
    s.write(Buffer.from('def'));
    await pause();
    expect(direct).toBe(false);
    expect(Buffer.concat(got).toString()).toBe('abcdef');
  });
});

/** A memory disk: what the server handed it, byte for byte. */
class MemoryDisk implements BlockDevice {
  readonly bytes = Buffer.alloc(8 * MiB);
  readonly size = this.bytes.length;
  read(offset: number, length: number): Buffer {
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }
  write(offset: number, data: Buffer): void {
    data.copy(this.bytes, offset);
  }
  writeZeroes(offset: number, length: number): void {
    this.bytes.fill(0, offset, offset + length);
  }
  trim(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

describe('NBD WRITE payloads read in place', () => {
  const dir = tempDir();

  it('large and small payloads, split at awkward places, land byte-exact and in order', async () => {
    const disk = new MemoryDisk();
    const socketPath = join(dir, 'nbd.sock');
    const server = new NbdServer({ exports: [{ name: 'd', device: disk }], socketPath });
    await server.listen();
    try {
      const c = await RawNbd.connect({ socketPath });
      await c.handshake();
      c.option(P.OPT_GO, RawNbd.goData('d'));
      for (;;) if ((await c.optionReply()).type === P.REP_ACK) break;
      const header = (offset: number, length: number, cookie: number) => {
        const h = Buffer.alloc(28);
        h.writeUInt32BE(P.REQUEST_MAGIC, 0);
        h.writeUInt16BE(P.CMD_WRITE, 6);
        h.writeBigUInt64BE(BigInt(cookie), 8);
        h.writeBigUInt64BE(BigInt(offset), 16);
        h.writeUInt32BE(length, 24);
        return h;
      };
      const big = randomBytes(2 * MiB);
      const small = randomBytes(4096);
      const over = randomBytes(MiB); // overwrites the middle of `big`: order matters
      // Header alone, then one byte, then most of the payload; a small write and the start of
      // the next large one's header in the same piece as the end of the first payload.
      const stream = Buffer.concat([
        header(0, big.length, 1),
        big,
        header(3 * MiB, small.length, 2),
        small,
        header(MiB / 2, over.length, 3),
        over,
      ]);
      await sendInPieces(c.sock, stream, [28, 1, 1500 * 1024, 600 * 1024, 10]);
      // Large writes back to back in one piece: after each payload the next header is read
      // alone (then its payload straight into its buffer).
      const burst = [4, 5, 6].map((k) => ({ offset: (k - 4) * 2 * MiB, data: randomBytes(MiB) }));
      c.sock.write(Buffer.concat(burst.flatMap((w, i) => [header(w.offset, MiB, 4 + i), w.data])));
      const cookies = [];
      for (let i = 0; i < 6; i++) {
        const r = await c.simpleReply();
        expect(r.error).toBe(0);
        cookies.push(Number(r.cookie));
      }
      expect(cookies).toEqual([1, 2, 3, 4, 5, 6]);
      const want = Buffer.alloc(disk.size);
      big.copy(want, 0);
      small.copy(want, 3 * MiB);
      over.copy(want, MiB / 2);
      for (const w of burst) w.data.copy(want, w.offset);
      expect(sha(disk.bytes)).toBe(sha(want));
      c.close();
    } finally {
      await server.close();
    }
  });
});
