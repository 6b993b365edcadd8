import { createServer, type Server, type Socket } from 'node:net';
import { ByteQueue } from './byteQueue';
import { listenPrivate } from './privateSocket';
import { NbdError, type BlockDevice, type NbdExport } from './blockDevice';
import * as P from './protocol';

/**
 * A fixed-newstyle NBD server (NetworkBlockDevice proto.md) over a Unix socket or loopback TCP.
 * Simple replies only (structured replies are optional in the spec and the clients we target
 * fall back). Requests are handled in arrival order; a request whose device call completes
 * synchronously is answered in the same event-loop turn, slower ones (FUA, FLUSH) are answered
 * when they complete, which NBD allows (replies are matched by cookie).
 */
export interface NbdServerOptions {
  exports: NbdExport[];
  /**
   * The Unix socket (mode 0600). NBD has no authentication, so the disk is served on a socket
   * only its owner can open, never on TCP (any local user could read and write the disk).
   */
  socketPath: string;
  log?: (msg: string) => void;
}

export const TRANSMISSION_FLAGS =
  P.TFLAG_HAS_FLAGS |
  P.TFLAG_SEND_FLUSH |
  P.TFLAG_SEND_FUA |
  P.TFLAG_SEND_TRIM |
  P.TFLAG_SEND_WRITE_ZEROES |
  // Safe: every connection reaches the same in-process device, and FLUSH makes durable
  // everything completed on any connection (one journal, one backing fd).
  P.TFLAG_CAN_MULTI_CONN;

const MAX_OPTION_BYTES = 64 * 1024;

export class NbdServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly log: (msg: string) => void;
  /** Bound address after listen(). */
  address?: { socketPath: string };

  constructor(private readonly opts: NbdServerOptions) {
    this.log = opts.log ?? (() => {});
    if (opts.exports.length === 0) throw new Error('NbdServer: no exports');
  }

  async listen(): Promise<void> {
    const server = createServer((s) => this.onConnection(s));
    this.server = server;
    await listenPrivate(server, this.opts.socketPath);
    this.address = { socketPath: this.opts.socketPath };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private findExport(name: string): NbdExport | undefined {
    // The empty name is the default export (qemu's nbd+unix:/// URIs ask for it).
    if (name === '') return this.opts.exports[0];
    return this.opts.exports.find((e) => e.name === name);
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay?.(true);
    const conn = new Connection(sock, this, this.log);
    sock.on('close', () => {
      this.sockets.delete(sock);
      conn.closed = true;
    });
    sock.on('error', () => sock.destroy());
  }

  /** @internal */
  lookup(name: string): NbdExport | undefined {
    return this.findExport(name);
  }
  /** @internal */
  list(): NbdExport[] {
    return this.opts.exports;
  }
}

type Phase = 'clientFlags' | 'options' | 'transmission' | 'done';

class Connection {
  private readonly q = new ByteQueue();
  private phase: Phase = 'clientFlags';
  private noZeroes = false;
  private device?: BlockDevice;
  /** Bytes of a refused WRITE payload still to be discarded. */
  private discard = 0;
  private inflight = 0;
  private disconnectRequested = false;
  closed = false;

  constructor(
    private readonly sock: Socket,
    private readonly server: NbdServer,
    private readonly log: (msg: string) => void,
  ) {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(P.NBDMAGIC, 0);
    hello.writeBigUInt64BE(P.IHAVEOPT, 8);
    hello.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
    sock.write(hello);
    sock.on('data', (b: Buffer) => {
      this.q.push(b);
      // All replies produced by this chunk of requests leave in one write (one syscall).
      sock.cork();
      process.nextTick(() => sock.uncork());
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
        } catch (e) {
          // Writes already answered (in the corked socket) failed: drop the replies with the
          // connection rather than let them leave as successes.
          this.log(`nbd: I/O error: ${(e as Error).message}`);
          this.closed = true;
          this.phase = 'done';
          sock.destroy();
        }
      }
    });
  }

  private hangUp(): void {
    this.phase = 'done';
    this.closed = true;
    this.sock.end();
    this.sock.destroySoon?.();
  }

  /** Parses one unit of input; false when more bytes are needed. */
  private step(): boolean {
    if (this.discard > 0) {
      this.discard -= this.q.skip(this.discard);
      return this.discard === 0 && this.q.length > 0;
    }
    switch (this.phase) {
      case 'clientFlags': {
        if (this.q.length < 4) return false;
        const flags = this.q.take(4).readUInt32BE(0);
        if (flags & ~(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES)) {
          this.log('nbd: unknown client flags, closing');
          this.hangUp();
          return false;
        }
        this.noZeroes = (flags & P.FLAG_C_NO_ZEROES) !== 0;
        this.phase = 'options';
        return true;
      }
      case 'options':
        return this.option();
      case 'transmission':
        return this.request();
      case 'done':
        return false;
    }
  }

  private optionReply(opt: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(20);
    h.writeBigUInt64BE(P.OPT_REPLY_MAGIC, 0);
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(type >>> 0, 12);
    h.writeUInt32BE(data.length, 16);
    this.sock.write(data.length ? Buffer.concat([h, data]) : h);
  }

  private pendingOption?: { opt: number; len: number };

  private option(): boolean {
    if (!this.pendingOption) {
      if (this.q.length < 16) return false;
      const head = this.q.take(16);
      if (head.readBigUInt64BE(0) !== P.IHAVEOPT) throw new Error('bad option magic');
      const opt = head.readUInt32BE(8);
      const len = head.readUInt32BE(12);
      if (len > MAX_OPTION_BYTES) throw new Error(`option ${opt} too long (${len})`);
      this.pendingOption = { opt, len };
    }
    const p = this.pendingOption;
    if (this.q.length < p.len) return false;
    this.pendingOption = undefined;
    return this.handleOption(p.opt, this.q.take(p.len));
  }

  private handleOption(opt: number, data: Buffer): boolean {
    switch (opt) {
      case P.OPT_EXPORT_NAME: {
        const exp = this.server.lookup(data.toString('utf8'));
        if (!exp) {
          // EXPORT_NAME has no error reply: the spec says close the connection.
          this.log(`nbd: unknown export '${data.toString('utf8')}'`);
          this.hangUp();
          return false;
        }
        const r = Buffer.alloc(this.noZeroes ? 10 : 134);
        r.writeBigUInt64BE(BigInt(exp.device.size), 0);
        r.writeUInt16BE(TRANSMISSION_FLAGS, 8);
        this.sock.write(r);
        this.device = exp.device;
        this.phase = 'transmission';
        return true;
      }
      case P.OPT_ABORT:
        this.optionReply(opt, P.REP_ACK);
        this.hangUp();
        return false;
      case P.OPT_LIST: {
        if (data.length !== 0) {
          this.optionReply(opt, P.REP_ERR_INVALID, Buffer.from('NBD_OPT_LIST takes no data'));
          return true;
        }
        for (const e of this.server.list()) {
          const name = Buffer.from(e.name, 'utf8');
          const desc = Buffer.from(e.description ?? '', 'utf8');
          const b = Buffer.alloc(4 + name.length + desc.length);
          b.writeUInt32BE(name.length, 0);
          name.copy(b, 4);
          desc.copy(b, 4 + name.length);
          this.optionReply(opt, P.REP_SERVER, b);
        }
        this.optionReply(opt, P.REP_ACK);
        return true;
      }
      case P.OPT_INFO:
      case P.OPT_GO: {
        if (data.length < 6) {
          this.optionReply(opt, P.REP_ERR_INVALID, Buffer.from('malformed request'));
          return true;
        }
        const nameLen = data.readUInt32BE(0);
        if (4 + nameLen + 2 > data.length) {
          this.optionReply(opt, P.REP_ERR_INVALID, Buffer.from('malformed request'));
          return true;
        }
        const name = data.subarray(4, 4 + nameLen).toString('utf8');
        const nInfo = data.readUInt16BE(4 + nameLen);
        if (4 + nameLen + 2 + nInfo * 2 !== data.length) {
          this.optionReply(opt, P.REP_ERR_INVALID, Buffer.from('malformed request'));
          return true;
        }
        const wanted = new Set<number>();
        for (let i = 0; i < nInfo; i++) wanted.add(data.readUInt16BE(4 + nameLen + 2 + i * 2));
        const exp = this.server.lookup(name);
        if (!exp) {
          this.optionReply(opt, P.REP_ERR_UNKNOWN, Buffer.from(`no export named '${name}'`));
          return true;
        }
        const info = Buffer.alloc(12);
        info.writeUInt16BE(P.INFO_EXPORT, 0);
        info.writeBigUInt64BE(BigInt(exp.device.size), 2);
        info.writeUInt16BE(TRANSMISSION_FLAGS, 10);
        this.optionReply(opt, P.REP_INFO, info);
        if (wanted.has(P.INFO_NAME)) {
          const n = Buffer.from(exp.name, 'utf8');
          const b = Buffer.alloc(2 + n.length);
          b.writeUInt16BE(P.INFO_NAME, 0);
          n.copy(b, 2);
          this.optionReply(opt, P.REP_INFO, b);
        }
        if (wanted.has(P.INFO_DESCRIPTION) && exp.description) {
          const n = Buffer.from(exp.description, 'utf8');
          const b = Buffer.alloc(2 + n.length);
          b.writeUInt16BE(P.INFO_DESCRIPTION, 0);
          n.copy(b, 2);
          this.optionReply(opt, P.REP_INFO, b);
        }
        // Always sent: the journal works in sectors, so clients should too. Unaligned requests
        // from clients that ignore it are still handled (the splitter widens them).
        const bs = Buffer.alloc(14);
        bs.writeUInt16BE(P.INFO_BLOCK_SIZE, 0);
        bs.writeUInt32BE(P.SECTOR, 2);
        bs.writeUInt32BE(4096, 6);
        bs.writeUInt32BE(P.MAX_PAYLOAD, 10);
        this.optionReply(opt, P.REP_INFO, bs);
        this.optionReply(opt, P.REP_ACK);
        if (opt === P.OPT_GO) {
          this.device = exp.device;
          this.phase = 'transmission';
        }
        return true;
      }
      default:
        this.optionReply(opt, P.REP_ERR_UNSUP, Buffer.from(`option ${opt} not supported`));
        return true;
    }
  }

  private reply(cookie: Buffer, error: number, data?: Buffer): void {
    if (this.closed) return;
    const h = Buffer.allocUnsafe(16);
    h.writeUInt32BE(P.SIMPLE_REPLY_MAGIC, 0);
    h.writeUInt32BE(error, 4);
    cookie.copy(h, 8);
    if (data) {
      this.sock.cork();
      this.sock.write(h);
      this.sock.write(data);
      this.sock.uncork();
    } else {
      this.sock.write(h);
    }
  }

  private pendingWrite?: { flags: number; cookie: Buffer; offset: number; length: number };

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
