import type { Socket } from 'node:net';
import { ByteQueue } from './byteQueue';
import { NbdError, type BlockDevice } from './blockDevice';
import type { ExportCatalog } from './nbdOptions';
import { NbdHandshake } from './nbdHandshake';
import { readSocketInto } from './socketReads';
import * as P from './protocol';

/** A WRITE payload with at least this much still to come is read straight into its buffer. */
const DIRECT_READ_BYTES = 64 * 1024;

type Phase = 'handshake' | 'transmission' | 'done';

/**
 * One client connection: the handshake (options), then transmission. Requests are handled in
 * arrival order; the replies of one socket read leave together, after that read's writes.
 */
export class NbdConnection {
  private readonly q = new ByteQueue();
  private phase: Phase = 'handshake';
  private readonly handshake: NbdHandshake;
  private device?: BlockDevice;
  /** Bytes of a refused WRITE payload still to be discarded. */
  private discard = 0;
  private inflight = 0;
  private disconnectRequested = false;
  closed = false;

  constructor(
    private readonly sock: Socket,
    server: ExportCatalog,
    private readonly log: (msg: string) => void,
  ) {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(P.NBDMAGIC, 0);
    hello.writeBigUInt64BE(P.IHAVEOPT, 8);
    hello.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
    sock.write(hello);
    this.handshake = new NbdHandshake(this.q, server, (b) => sock.write(b));
    readSocketInto(sock, {
      chunk: (b) => this.received(b),
      target: () => this.payloadTarget(),
      filled: (n) => this.payloadFilled(n),
      // In a stream of large WRITEs the read after a payload would take the next header and
      // ~200 KiB of its payload, copied into the payload's buffer after: read the header alone,
      // and the payload lands in its buffer (one read more per request, no copy).
      readLimit: () =>
        this.streaming && !this.pendingWrite && this.q.length === 0
          ? P.REQUEST_HEADER_BYTES
          : undefined,
    });
  }

  private received(b: Buffer): void {
    this.q.push(b);
    // Most chunks of a large WRITE only add to its payload: nothing to parse or answer yet.
    if (this.pendingWrite && this.q.length < this.pendingWrite.length) return;
    // All replies produced by this chunk of requests leave in one write (one syscall). The
    // ones answered in this turn are joined into one buffer first: a corked socket hands
    // each small write to writev as its own piece, which cost more than the write itself.
    const sock = this.sock;
    sock.cork();
    process.nextTick(() => sock.uncork());
    this.batch ??= [];
    this.reading = true;
    // The device may batch this chunk's writes (one journal writev); it writes them out
    // before this turn ends, so before any of the replies queued above leave.
    const dev = this.device;
    dev?.cork?.();
    try {
      while (!this.closed && this.step()) {
        /* keep parsing */
      }
    } catch (e) {
      this.log(`nbd: protocol error: ${(e as Error).message}`);
      this.hangUp();
    } finally {
      try {
        dev?.uncork?.();
        this.sendBatch();
      } catch (e) {
        // Writes already answered (in the batch) failed: drop the replies with the
        // connection rather than let them leave as successes.
        this.log(`nbd: I/O error: ${(e as Error).message}`);
        this.batch = undefined;
        this.closed = true;
        this.phase = 'done';
        sock.destroy();
      }
      this.reading = false;
      if (this.endAfterBatch) {
        this.endAfterBatch = false;
        this.end();
      }
    }
  }

  /** A large WRITE payload still arriving is read straight into its own buffer (ByteQueue). */
  private payloadTarget(): Buffer | undefined {
    const w = this.pendingWrite;
    if (this.closed || !w) return undefined;
    // The device may want it in memory of its own (the journal writes it O_DIRECT from there).
    const dev = this.device;
    return this.q.target(
      w.length,
      DIRECT_READ_BYTES,
      (n) => dev?.payloadBuffer?.(n) ?? Buffer.allocUnsafe(n),
    );
  }

  private payloadFilled(n: number): void {
    const whole = this.q.filled(n);
    if (whole) this.received(whole);
  }

  /** Replies of the current socket read, sent together once its writes are done. */
  private batch?: Buffer[];

  private sendBatch(): void {
    const b = this.batch;
    this.batch = undefined;
    if (!b?.length || this.sock.destroyed) return;
    this.sock.write(b.length === 1 ? b[0]! : Buffer.concat(b));
  }

  /** A hang-up inside a socket read waits for that read's replies (after its writes). */
  private endAfterBatch = false;
  private reading = false;

  private hangUp(): void {
    this.phase = 'done';
    this.closed = true;
    if (this.reading) this.endAfterBatch = true;
    else this.end();
  }

  private end(): void {
    this.sendBatch();
    this.sock.end();
    this.sock.destroySoon?.();
  }

  /** Parses one unit of input; false when more bytes are needed. */
  private step(): boolean {
    if (this.discard > 0) {
      this.discard -= this.q.skip(this.discard);
      return this.discard === 0 && this.q.length > 0;
    }
    if (this.phase === 'done') return false;
    if (this.phase === 'transmission') return this.request();
    const next = this.handshake.step();
    switch (next.kind) {
      case 'more':
        return false;
      case 'next':
        return true;
      case 'hangUp':
        if (next.reason) this.log(`nbd: ${next.reason}`);
        this.hangUp();
        return false;
      case 'transmit':
        this.device = next.device;
        this.phase = 'transmission';
        return true;
    }
  }

  private reply(cookie: Buffer, error: number, data?: Buffer): void {
    if (this.closed) return;
    const h = Buffer.allocUnsafe(16);
    h.writeUInt32BE(P.SIMPLE_REPLY_MAGIC, 0);
    h.writeUInt32BE(error, 4);
    cookie.copy(h, 8);
    if (!data) {
      // Replies settled outside a socket read (writes done in the thread pool) leave together
      // once this round of completions is over: one socket write, not one per reply.
      if (!this.batch) setImmediate(() => this.sendBatch());
      (this.batch ??= []).push(h);
      return;
    }
    this.sock.cork();
    this.sock.write(h);
    this.sock.write(data);
    this.sock.uncork();
  }

  private pendingWrite?: { flags: number; cookie: Buffer; offset: number; length: number };
  /** The last request was a WRITE large enough to be read straight into its buffer. */
  private streaming = false;

  private request(): boolean {
    if (this.pendingWrite) {
      const w = this.pendingWrite;
      if (this.q.length < w.length) return false;
      this.pendingWrite = undefined;
      this.run(w.cookie, () =>
        this.device!.write(w.offset, this.q.take(w.length), (w.flags & P.CMD_FLAG_FUA) !== 0),
      );
      return true;
    }
    if (this.q.length < P.REQUEST_HEADER_BYTES) return false;
    const h = this.q.take(P.REQUEST_HEADER_BYTES);
    if (h.readUInt32BE(0) !== P.REQUEST_MAGIC) throw new Error('bad request magic');
    const flags = h.readUInt16BE(4);
    const type = h.readUInt16BE(6);
    const cookie = Buffer.from(h.subarray(8, 16));
    const offsetBig = h.readBigUInt64BE(16);
    const length = h.readUInt32BE(24);
    const dev = this.device!;
    const fua = (flags & P.CMD_FLAG_FUA) !== 0;
    const inRange = offsetBig + BigInt(length) <= BigInt(dev.size);
    const offset = Number(offsetBig);
    this.streaming = type === P.CMD_WRITE && length >= DIRECT_READ_BYTES;

    if (this.disconnectRequested) {
      // After NBD_CMD_DISC the client must not send more; be tolerant, refuse politely.
      if (type === P.CMD_WRITE) this.discard = length;
      this.reply(cookie, P.ESHUTDOWN);
      return true;
    }

    switch (type) {
      case P.CMD_READ:
        if (!inRange) this.reply(cookie, P.EINVAL);
        else if (length > P.MAX_PAYLOAD) this.reply(cookie, P.EINVAL);
        else this.run(cookie, () => dev.read(offset, length), true);
        return true;
      case P.CMD_WRITE:
        if (!inRange || length > P.MAX_PAYLOAD) {
          // The payload follows the header whatever we answer: drop it, then refuse.
          this.discard = length;
          this.reply(cookie, length > P.MAX_PAYLOAD ? P.EINVAL : P.ENOSPC);
          return true;
        }
        if (this.q.length < length) {
          this.pendingWrite = { flags, cookie, offset, length };
          return false;
        }
        this.run(cookie, () => dev.write(offset, this.q.take(length), fua));
        return true;
      case P.CMD_FLUSH:
        this.run(cookie, () => dev.flush());
        return true;
      case P.CMD_TRIM:
        if (!inRange) this.reply(cookie, P.ENOSPC);
        else this.run(cookie, () => dev.trim(offset, length, fua));
        return true;
      case P.CMD_WRITE_ZEROES:
        if (!inRange) this.reply(cookie, P.ENOSPC);
        else this.run(cookie, () => dev.writeZeroes(offset, length, fua));
        return true;
      case P.CMD_DISC:
        // Outstanding requests are still answered; then the connection closes.
        this.disconnectRequested = true;
        this.maybeFinishDisc();
        return true;
      default:
        this.reply(cookie, P.EINVAL);
        return true;
    }
  }

  private maybeFinishDisc(): void {
    if (this.disconnectRequested && this.inflight === 0) this.hangUp();
  }

  /** Runs a device call and answers: synchronously when it returns a value, else on settle. */
  private run(cookie: Buffer, f: () => unknown, withData = false): void {
    let r: unknown;
    try {
      r = f();
    } catch (e) {
      this.fail(cookie, e);
      return;
    }
    if (r instanceof Promise) {
      this.inflight++;
      r.then(
        (v) => this.reply(cookie, 0, withData ? (v as Buffer) : undefined),
        (e) => this.fail(cookie, e),
      ).finally(() => {
        this.inflight--;
        this.maybeFinishDisc();
      });
    } else {
      this.reply(cookie, 0, withData ? (r as Buffer) : undefined);
    }
  }

  private fail(cookie: Buffer, e: unknown): void {
    if (e instanceof NbdError) {
      this.reply(cookie, e.errno);
      return;
    }
    this.log(`nbd: I/O error: ${(e as Error).message}`);
    const code = (e as NodeJS.ErrnoException).code;
    this.reply(cookie, code === 'ENOSPC' ? P.ENOSPC : P.EIO);
  }
}
