/** What one staged batch read ahead holds: its decoded bytes, or the end of what is staged. */
export interface AheadItem {
  /** Decoded data bytes it holds in memory; `undefined`: nothing staged there (or refused). */
  bytes: number | undefined;
}

export interface ReadAheadLimits {
  /** Reads running at once. */
  inFlight: number;
  /** Decoded bytes held ahead of the consumer, reads in flight counted at the last size seen. */
  bytes: number;
  /** Size assumed for a batch before one is seen (a short drain then probes little past its end). */
  firstGuess: number;
}

/**
 * Reads the staged batches after the consumer's position ahead of it, in seq order, so the next
 * group is decoded while the current one's page writes are in flight: a drain that fetched a
 * group only once the previous one was applied spent ~2 s of every ~9 s of catching up on
 * downloads and decryption with no page write in flight (bench `rpo`, 10 MB/s of random churn).
 * Bounded by reads in flight and by bytes held; stops at the first seq with nothing staged (or
 * a failed read) until the consumer reaches it.
 */
export class ReadAhead<T extends AheadItem> {
  private readonly reads = new Map<number, Promise<T>>();
  private readonly sizes = new Map<number, number>();
  /** Next seq to start reading. */
  private next: number;
  private running = 0;
  private held = 0;
  private lastSize: number;
  /** First seq whose read found nothing staged or failed: nothing past it is read. */
  private endAt = Infinity;
  /** Seqs read ahead that found nothing staged: stale once the consumer asks again. */
  private readonly missing = new Set<number>();

  constructor(
    after: number,
    private readonly read: (seq: number) => Promise<T>,
    private readonly limits: ReadAheadLimits,
  ) {
    this.next = after + 1;
    this.lastSize = limits.firstGuess;
  }

  /** The batch at `seq` without taking it (read now if it was not read ahead). */
  peek(seq: number): Promise<T> {
    if (!this.reads.has(seq)) {
      if (seq >= this.endAt) this.restartAt(seq);
      this.next = Math.max(this.next, seq);
      this.start(seq);
    }
    return this.reads.get(seq)!;
  }

  /**
   * The consumer asks again for the seq found missing (the drain went on after applying a
   * group): it may be staged by now, and so may what follows, so what was found missing past
   * it is read again.
   */
  private restartAt(seq: number): void {
    this.endAt = Infinity;
    for (const m of this.missing) if (m > seq) this.reads.delete(m);
    this.missing.clear();
    this.next = seq;
  }

  /** The batch at `seq` (the consumer's next one), read now if it was not read ahead. */
  take(seq: number): Promise<T> {
    const p = this.peek(seq);
    this.reads.delete(seq);
    p.then(
      () => this.release(seq),
      () => this.release(seq),
    );
    this.pump();
    return p;
  }

  private release(seq: number): void {
    this.held -= this.sizes.get(seq) ?? 0;
    this.sizes.delete(seq);
    this.pump();
  }

  private start(seq: number): void {
    if (seq === this.next) this.next++;
    this.running++;
    const p = this.read(seq);
    this.reads.set(seq, p);
    p.catch(() => {}); // taken (and thrown) later; an unused read must not crash the process
    p.then(
      (item) => {
        this.running--;
        if (item.bytes === undefined) {
          this.endAt = Math.min(this.endAt, seq);
          this.missing.add(seq);
        } else {
          this.lastSize = item.bytes || this.lastSize;
          if (this.reads.get(seq) === p) {
            this.sizes.set(seq, item.bytes);
            this.held += item.bytes;
          }
        }
        this.pump();
      },
      () => {
        this.running--;
        this.endAt = Math.min(this.endAt, seq);
        this.missing.add(seq);
      },
    );
  }

  private pump(): void {
    while (this.next < this.endAt) {
      if (this.reads.has(this.next)) {
        this.next++; // read ahead before a restart, and staged: still good
        continue;
      }
      if (this.running >= this.limits.inFlight) return;
      if (this.held + (this.running + 1) * this.lastSize > this.limits.bytes) return;
      this.start(this.next);
    }
  }
}
