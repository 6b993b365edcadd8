import { spawn, type ChildProcess } from 'node:child_process';

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
