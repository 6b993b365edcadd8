import { connect, type Socket } from 'node:net';

/**
 * A minimal raw NBD client for what real clients never send: bad options, out-of-range
 * requests, unknown commands. Used only to check the server's refusals.
 */
export class RawNbd {
  private buf = Buffer.alloc(0);
  private wants: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    sock.on('close', () => {
      this.closed = true;
      this.pump();
    });
  }

  static connect(target: { socketPath: string }): Promise<RawNbd> {
    return new Promise((resolve, reject) => {
      const s = connect(target.socketPath);
      s.once('connect', () => resolve(new RawNbd(s)));
      s.once('error', reject);
    });
  }

  private pump(): void {
    while (this.wants.length && this.buf.length >= this.wants[0]!.n) {
      const w = this.wants.shift()!;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(out);
    }
    if (this.closed) for (const w of this.wants.splice(0)) w.resolve(Buffer.alloc(0));
  }

  /** n bytes, or a shorter buffer if the server closed first. */
  read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.wants.push({ n, resolve });
      this.pump();
    });
  }

  write(b: Buffer): void {
    this.sock.write(b);
  }

  async handshake(clientFlags = 3): Promise<{ flags: number }> {
    const hello = await this.read(18);
    if (hello.subarray(0, 8).toString('latin1') !== 'NBDMAGIC') throw new Error('no NBDMAGIC');
    if (hello.subarray(8, 16).toString('latin1') !== 'IHAVEOPT') throw new Error('no IHAVEOPT');
    const b = Buffer.alloc(4);
    b.writeUInt32BE(clientFlags);
    this.write(b);
    return { flags: hello.readUInt16BE(16) };
  }

  option(opt: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.write('IHAVEOPT', 0, 'latin1');
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<{ opt: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    if (h.length < 20) throw new Error('closed');
    const len = h.readUInt32BE(16);
    const data = await this.read(len);
    return { opt: h.readUInt32BE(8), type: h.readUInt32BE(12), data };
  }

  static goData(name: string, infos: number[] = []): Buffer {
    const n = Buffer.from(name);
    const b = Buffer.alloc(4 + n.length + 2 + infos.length * 2);
    b.writeUInt32BE(n.length, 0);
    n.copy(b, 4);
    b.writeUInt16BE(infos.length, 4 + n.length);
    infos.forEach((t, i) => b.writeUInt16BE(t, 4 + n.length + 2 + i * 2));
    return b;
  }

  request(
    type: number,
    offset: bigint,
    length: number,
    cookie: bigint,
    flags = 0,
    payload?: Buffer,
  ): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(flags, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(offset, 16);
    h.writeUInt32BE(length, 24);
    this.write(payload ? Buffer.concat([h, payload]) : h);
  }

  async simpleReply(dataLen = 0): Promise<{ error: number; cookie: bigint; data: Buffer }> {
    const h = await this.read(16);
    if (h.length < 16) throw new Error('closed');
    if (h.readUInt32BE(0) !== 0x67446698) throw new Error('bad reply magic');
    const error = h.readUInt32BE(4);
    const data = error === 0 && dataLen ? await this.read(dataLen) : Buffer.alloc(0);
    return { error, cookie: h.readBigUInt64BE(8), data };
  }

  close(): void {
    this.sock.destroy();
  }
}
