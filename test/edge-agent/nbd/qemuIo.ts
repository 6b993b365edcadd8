import { spawnProgram, type Child } from '../../support/procs';

const PROMPT = 'qemu-io> ';

/**
 * Drives an interactive qemu-io (a real NBD client) one command at a time: a command has
 * completed — and for a write, been acknowledged by the server — when the next prompt appears.
 * Every wait ends: with the output, or an error when qemu-io is missing, exits, or answers
 * nothing within `timeoutMs`.
 */
export class QemuIo {
  private readonly proc: Child;
  private buf = '';
  private waiter?: {
    resolve: (s: string) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout;
  };
  private failure?: Error;

  constructor(
    uri: string,
    extraArgs: string[] = [],
    private readonly timeoutMs = 120_000,
  ) {
    this.proc = spawnProgram('qemu-io', ['-f', 'raw', ...extraArgs, uri], { stdin: 'pipe' });
    // A qemu-io that is gone makes writes to it fail (EPIPE): that is reported through `done`.
    this.proc.child.stdin!.on('error', () => undefined);
    this.proc.child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      this.check();
    });
    this.proc.done.then(
      () => this.fail(new Error(`qemu-io exited: ${this.proc.out.stderr}${this.buf}`)),
      (e: Error) => this.fail(e), // could not start (not installed)
    );
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.settle((w) => w.reject(e));
  }

  private settle(f: (w: NonNullable<QemuIo['waiter']>) => void): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    f(w);
  }

  private check(): void {
    const i = this.buf.indexOf(PROMPT);
    if (i < 0 || !this.waiter) return;
    const out = this.buf.slice(0, i);
    this.buf = this.buf.slice(i + PROMPT.length);
    this.settle((w) => w.resolve(out));
  }

  private next(what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const timer = setTimeout(
        () =>
          this.settle((w) =>
            w.reject(new Error(`qemu-io: no prompt after ${what} within ${this.timeoutMs} ms`)),
          ),
        this.timeoutMs,
      );
      this.waiter = { resolve, reject, timer };
      this.check();
    });
  }

  /** Waits for the first prompt (connection established). */
  ready(): Promise<string> {
    return this.next('connecting');
  }

  /** Sends one command; resolves with its output once qemu-io is ready for the next. */
  cmd(line: string): Promise<string> {
    const p = this.next(line);
    if (!this.failure) this.proc.child.stdin!.write(`${line}\n`);
    return p;
  }

  async quit(): Promise<void> {
    if (this.proc.exited()) return;
    this.proc.child.stdin!.end('quit\n');
    await this.proc.done.catch(() => undefined);
  }
}
