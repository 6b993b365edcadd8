import { connect, type Socket } from 'node:net';
import * as P from '../../edge-agent/nbd/protocol';

/**
 * A small pipelined NBD client for the RPO bench: fixed-newstyle handshake (NBD_OPT_GO), then
 * WRITE and FLUSH with many requests in flight, each reply time-stamped when it arrives. qemu-io
 * and fio do not report per-write acknowledgement times, which is what the RPO figure is made of.
 */
export class PacedNbdClient {
  private buf: Buffer = Buffer.alloc(0);
  private wants: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  private pending = new Map<bigint, (error: number, at: number) => void>();
  private nextCookie = 1n;
  private transmission = false;
  size = 0;
  inflight = 0;

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay?.(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      if (this.transmission) this.replies();
      else this.pump();
    });
  }

  static async open(socketPath: string, exportName: string): Promise<PacedNbdClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const c = new PacedNbdClient(sock);
    await c.handshake(exportName);
    return c;
  }

  private pump(): void {
    while (this.wants.length && this.buf.length >= this.wants[0]!.n) {
      const w = this.wants.shift()!;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(out);
    }
  }

  private read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.wants.push({ n, resolve });
      this.pump();
    });
  }

  private async handshake(name: string): Promise<void> {
    const hello = await this.read(18);
    if (hello.readBigUInt64BE(0) !== P.NBDMAGIC) throw new Error('nbd: no NBDMAGIC');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES);
    const n = Buffer.from(name);
    const data = Buffer.alloc(4 + n.length + 2);
    data.writeUInt32BE(n.length, 0);
    n.copy(data, 4);
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(P.IHAVEOPT, 0);
    h.writeUInt32BE(P.OPT_GO, 8);
    h.writeUInt32BE(data.length, 12);
    this.sock.write(Buffer.concat([flags, h, data]));
    for (;;) {
      const r = await this.read(20);
      const type = r.readUInt32BE(12);
      const body = await this.read(r.readUInt32BE(16));
      if (type === P.REP_ACK) break;
      if (type & P.REP_FLAG_ERROR) throw new Error(`nbd: GO refused: ${body.toString()}`);
      if (type === P.REP_INFO && body.readUInt16BE(0) === P.INFO_EXPORT)
        this.size = Number(body.readBigUInt64BE(2));
    }
    this.transmission = true;
    if (this.buf.length) this.replies();
  }

  private replies(): void {
    let off = 0;
    while (this.buf.length - off >= 16) {
      const at = Date.now();
      if (this.buf.readUInt32BE(off) !== P.SIMPLE_REPLY_MAGIC) throw new Error('nbd: bad reply');
      const error = this.buf.readUInt32BE(off + 4);
      const cookie = this.buf.readBigUInt64BE(off + 8);
      off += 16;
      const done = this.pending.get(cookie);
      this.pending.delete(cookie);
      this.inflight--;
      done?.(error, at);
    }
    this.buf = this.buf.subarray(off);
  }

  private request(type: number, offset: number, length: number, payload?: Buffer): Promise<number> {
    const cookie = this.nextCookie++;
    const h = Buffer.allocUnsafe(28);
    h.writeUInt32BE(P.REQUEST_MAGIC, 0);
    h.writeUInt16BE(0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.inflight++;
    const p = new Promise<number>((resolve, reject) =>
      this.pending.set(cookie, (error, at) =>
        error ? reject(new Error(`nbd: error ${error}`)) : resolve(at),
      ),
    );
    this.sock.cork();
    this.sock.write(h);
    if (payload) this.sock.write(payload);
    this.sock.uncork();
    return p;
  }

  /** Resolves with the time (ms since the epoch) the acknowledgement arrived. */
  write(offset: number, data: Buffer): Promise<number> {
    return this.request(P.CMD_WRITE, offset, data.length, data);
  }

  flush(): Promise<number> {
    return this.request(P.CMD_FLUSH, 0, 0);
  }

  close(): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(P.REQUEST_MAGIC, 0);
    h.writeUInt16BE(P.CMD_DISC, 6);
    this.sock.end(h);
  }
}
