import { writeSync, writevSync } from 'node:fs';

/** A piece of the journal's tail not in the file yet, in file order. */
type Held =
  | {
      kind: 'direct';
      lsn: number;
      fd: number;
      pos: number;
      header: Buffer;
      payloadFd: number;
      done: boolean;
      error?: Error;
    }
  | { kind: 'bytes'; lsn: number; fd: number; pos: number; bufs: Buffer[] };

/**
 * The journal's tail while a payload is being written O_DIRECT (off the event loop): the file
 * must stay a valid prefix of the log, so a direct record's header is written only once its
 * payload is, and every record appended after it waits here, in order, until then. A crash
 * meanwhile leaves the file ending before the record (recovery cuts what follows), and nothing
 * after it was answered: replies wait for `whenWritten`. (Their disk writes may have run: those
 * are marked first, see AheadMarks.)
 */
export class HeldTail {
  private readonly held: Held[] = [];
  private waiters: Array<{ lsn: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private failed?: Error;

  constructor(
    /** The last LSN whose record is in the file (all before it too). */
    public writtenLsn: number,
    /** Called after records were written to `fd` (marks it for the next sync). */
    private readonly onWritten: (fd: number) => void,
  ) {}

  get busy(): boolean {
    return this.held.length > 0;
  }

  /** Some held record is written to this fd (it must stay open). */
  uses(fd: number): boolean {
    return this.held.some((h) => h.fd === fd || (h.kind === 'direct' && h.payloadFd === fd));
  }

  /**
   * A record whose payload `written` is writing (O_DIRECT, in the thread pool); its header goes
   * in once that is done.
   */
  direct(
    lsn: number,
    fd: number,
    pos: number,
    header: Buffer,
    payloadFd: number,
    written: Promise<void>,
  ): void {
    this.check();
    const h: Held = { kind: 'direct', lsn, fd, pos, header, payloadFd, done: false };
    this.held.push(h);
    written.then(
      () => this.finish(h),
      (e: Error) => this.finish(h, e),
    );
  }

  /** Records appended behind a held one: written in order once it is. */
  bytes(lsn: number, fd: number, pos: number, bufs: Buffer[]): void {
    this.check();
    this.held.push({ kind: 'bytes', lsn, fd, pos, bufs });
  }

  /** Settles once the record `lsn` (and every one before it) is in the file; undefined: it is. */
  whenWritten(lsn: number): Promise<void> | undefined {
    if (this.failed) return Promise.reject(this.failed);
    if (lsn <= this.writtenLsn) return undefined;
    return new Promise((resolve, reject) => this.waiters.push({ lsn, resolve, reject }));
  }

  private check(): void {
    if (this.failed) throw this.failed;
  }

  private finish(h: Held & { kind: 'direct' }, e?: Error): void {
    h.done = true;
    h.error = e;
    try {
      this.advance();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private advance(): void {
    const fds = new Set<number>();
    while (this.held.length) {
      const h = this.held[0]!;
      if (h.kind === 'direct') {
        if (!h.done) break;
        // The payload could not be written: the journal fails (as a failed write(2) does), and
        // every write waiting for it with it; nothing after it reaches the file.
        if (h.error) throw h.error;
        writeAllAt(h.fd, [h.header], h.pos);
      } else writeAllAt(h.fd, h.bufs, h.pos);
      this.held.shift();
      this.writtenLsn = h.lsn;
      fds.add(h.fd);
    }
    for (const fd of fds) this.onWritten(fd);
    const ready = this.waiters.filter((w) => w.lsn <= this.writtenLsn);
    this.waiters = this.waiters.filter((w) => w.lsn > this.writtenLsn);
    for (const w of ready) w.resolve();
  }

  private fail(e: Error): void {
    this.failed = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }
}

/** writev takes at most IOV_MAX buffers per call. */
const IOV_MAX = 1024;

/** Writes `bufs` at `pos` (writev in IOV_MAX pieces); a short write throws. */
export function writeAllAt(fd: number, bufs: Buffer[], pos: number, total?: number): void {
  const start = pos;
  for (let i = 0; i < bufs.length; i += IOV_MAX) {
    const part = bufs.slice(i, i + IOV_MAX);
    const want = part.reduce((n, b) => n + b.length, 0);
    const n = part.length === 1 ? writeSync(fd, part[0]!, 0, want, pos) : writevSync(fd, part, pos);
    if (n !== want) {
      const all = total ?? bufs.reduce((k, b) => k + b.length, 0);
      throw new Error(`journal: short write (${pos - start + n}/${all})`);
    }
    pos += want;
  }
}
