import type { SpoolKey } from './spoolTypes';
import type { Spool } from './spool';

/** Batches being sealed or appended at once (with the bytes bound below, bounds memory). */
const MAX_IN_FLIGHT = 6;
/** Plain data of the batches being sealed or appended at once. */
const MAX_IN_FLIGHT_BYTES = 48 * 1024 * 1024;

/** A batch handed to the encoder, on its way into the spool (in seq order). */
interface InFlight {
  done: Promise<unknown>;
  settled: boolean;
  key: SpoolKey & { seq: number };
  firstPos: number;
  /** Upper bound of its envelope (plain data + header), for the spool's room check. */
  bytes: number;
}

/**
 * The batcher's batches between the encoder and the spool: sealed in parallel (the encoder's
 * workers), appended in the order they were handed over (the chain), several at once when they
 * queue up (the spool's group commit). A batch that failed stays here, unsettled, until reset():
 * it pins the committed position, so nothing after it counts as spooled.
 */
export class SealQueue {
  private inflight: InFlight[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly spool: Spool) {}

  /** The seq the next batch of this disk+generation gets: after those still being sealed. */
  nextSeq(k: SpoolKey): number {
    this.inflight = this.inflight.filter((f) => !f.settled);
    const prev = [...this.inflight]
      .reverse()
      .find((f) => f.key.diskId === k.diskId && f.key.generation === k.generation);
    return prev ? prev.key.seq + 1 : this.spool.nextSeq(k);
  }

  /** Upper bound of the envelopes not yet appended. */
  queuedBytes(): number {
    return this.inflight.reduce((n, f) => n + (f.settled ? 0 : f.bytes), 0);
  }

  /** Lowest first position of a batch not durably appended (Infinity if none). */
  firstUnsettledPos(): number {
    let min = Infinity;
    for (const f of this.inflight) if (!f.settled) min = Math.min(min, f.firstPos);
    return min;
  }

  /**
   * Appends `sealed` after every batch handed over before it; resolves once at most
   * MAX_IN_FLIGHT batches (MAX_IN_FLIGHT_BYTES) are still being sealed or appended.
   * `onSealed` sees each envelope as it goes to the spool.
   */
  async push(
    key: SpoolKey & { seq: number },
    sealed: Promise<Buffer>,
    firstPos: number,
    bytes: number,
    onSealed: (envelope: Buffer) => void,
  ): Promise<void> {
    sealed.catch(() => undefined); // surfaced through `done`
    const appended = this.chain.then(async () => {
      const env = await sealed;
      onSealed(env);
      // Handing it to the spool fixes its place; the next batch need not wait for the sync.
      return { durable: this.spool.append(key, env) };
    });
    this.chain = appended;
    const done = appended.then((a) => a.durable);
    done.catch(() => undefined); // surfaced by settle(); never an unhandled rejection
    const f: InFlight = { done, settled: false, key, firstPos, bytes };
    done.then(
      () => (f.settled = true),
      () => undefined,
    );
    this.inflight.push(f);
    for (;;) {
      const busy = this.inflight.filter((x) => !x.settled);
      const n = busy.reduce((s, x) => s + x.bytes, 0);
      if (busy.length < MAX_IN_FLIGHT && (busy.length < 2 || n < MAX_IN_FLIGHT_BYTES)) break;
      await busy[0]!.done;
    }
  }

  /** Waits until every batch handed over is durably appended; throws the first failure. */
  async settle(): Promise<void> {
    const all = this.inflight;
    await Promise.all(all.map((f) => f.done));
    this.inflight = this.inflight.filter((f) => !all.includes(f));
  }

  /** Waits for every batch handed over, then forgets them, failed ones included. */
  async reset(): Promise<void> {
    await Promise.allSettled(this.inflight.map((f) => f.done));
    this.inflight = [];
    this.chain = Promise.resolve();
  }
}
