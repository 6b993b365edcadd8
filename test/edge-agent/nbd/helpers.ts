import { afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const tempDirs: string[] = [];
// Images and journals are large: remove them after the test file (hooks registered here attach
// to the importing file's root suite), and on worker exit for whatever is left.
function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}
afterAll(() => removeTempDirs());
process.once('exit', removeTempDirs);

export function tempDir(prefix = 'haven-nbd-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const SERVE = resolve(__dirname, '../../../edge-agent/nbd/serveDisk.ts');

/**
 * Starts `serve-disk <args>` from TypeScript source in a child process (so a SIGKILL hits only
 * the server); resolves once it prints "ready", rejects if it exits first.
 */
export function startServeDisk(args: string[]): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', SERVE, 'serve-disk', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((res, rej) => {
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res(p));
    p.once('exit', (code) => rej(new Error(`serve-disk exited ${code}: ${err}`)));
  });
}

/** One request on serve-disk's control socket (a JSON line each way). */
export function control(path: string, msg: object): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const s = connect(path);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        s.end();
        res(JSON.parse(buf.slice(0, buf.indexOf('\n'))) as Record<string, unknown>);
      }
    });
    s.on('error', rej);
    s.write(`${JSON.stringify(msg)}\n`);
  });
}

export function unixUri(socketPath: string): string {
  return `nbd+unix:///?socket=${socketPath}`;
}

/**
 * Drives an interactive qemu-io (a real NBD client) one command at a time: a command has
 * completed — and for a write, been acknowledged by the server — when the next prompt appears.
 */
export class QemuIo {
  private proc: ChildProcess;
  private buf = '';
  private waiter?: { resolve: (s: string) => void; reject: (e: Error) => void };
  private exited = false;
  stderr = '';

  constructor(uri: string, extraArgs: string[] = []) {
    this.proc = spawn('qemu-io', ['-f', 'raw', ...extraArgs, uri], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => {
      this.buf += d;
      this.check();
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.on('exit', () => {
      this.exited = true;
      this.waiter?.reject(new Error(`qemu-io exited: ${this.stderr}${this.buf}`));
      this.waiter = undefined;
    });
  }

  private check(): void {
    const i = this.buf.indexOf('qemu-io> ');
    if (i >= 0 && this.waiter) {
      const out = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 'qemu-io> '.length);
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(out);
    }
  }

  /** Waits for the first prompt (connection established). */
  ready(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`qemu-io exited: ${this.stderr}`));
      this.waiter = { resolve, reject };
      this.check();
    });
  }

  /** Sends one command; resolves with its output once qemu-io is ready for the next. */
  cmd(line: string): Promise<string> {
    const p = new Promise<string>((resolve, reject) => {
      if (this.exited) return reject(new Error(`qemu-io exited: ${this.stderr}`));
      this.waiter = { resolve, reject };
    });
    this.proc.stdin!.write(`${line}\n`);
    return p;
  }

  async quit(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin!.end('quit\n');
    await done;
  }
}

/** Runs a command to completion; rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0 && !opts.allowFail)
        reject(new Error(`${cmd} ${args.join(' ')} → ${code}\n${stderr}${stdout}`));
      else resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

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

  static connect(target: { socketPath?: string; port?: number }): Promise<RawNbd> {
    return new Promise((resolve, reject) => {
      const s = target.socketPath ? connect(target.socketPath) : connect(target.port!, '127.0.0.1');
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
