/**
 * A partition's recently appended payloads by sequence number, so live readers don't go to
 * disk: it holds a run of sequence numbers from `start`, and gives up its oldest committed
 * ones once it is over its byte budget (uncommitted ones are never on disk to read yet).
 */
export class TailCache {
  private readonly bySeq = new Map<number, Buffer>();
  private first = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The first sequence number held; every later one appended is held too. */
  get start(): number {
    return this.first;
  }

  /** An empty cache whose next record is `seq` (after recovery). */
  startAt(seq: number): void {
    this.first = seq;
  }

  add(seq: number, payload: Buffer): void {
    this.bySeq.set(seq, payload);
    this.bytes += payload.length;
  }

  get(seq: number): Buffer | undefined {
    return this.bySeq.get(seq);
  }

  evict(committedEnd: number): void {
    while (this.bytes > this.maxBytes && this.first < committedEnd) {
      const b = this.bySeq.get(this.first);
      if (b) this.bytes -= b.length;
      this.bySeq.delete(this.first);
      this.first++;
    }
  }
}
