import { promises as fsp } from 'node:fs';
import { HavenError } from '../core/errors';
import { SPOOL_HEADER_BYTES as HDR } from './spoolRecord';
import { readEntry, recoverSegments, removeSegments } from './spoolSegments';
import { SpoolState, type SeqMap } from './spoolState';
import { SpoolWriter } from './spoolWriter';
import { HotEnvelopes } from './hotEnvelopes';
import { Wakeups } from './wakeups';
import { confirmMarks, keepWithin, SentBatches } from './sentBatches';
import { keyOf, splitKey, type SpoolEntry, type SpoolKey, type SpoolOptions } from './spoolTypes';

/**
 * Durable on-disk journal of sealed batches between the batcher and the sender.
 *
 * A batch counts as taken only when its record is written and fdatasync'd; its seq is fixed
 * at that moment and never reassigned (the envelope is stored, so a resend is byte-identical).
 * Records leave the spool only when (a) Event Hubs acknowledged them and (b) the change
 * source checkpointed state that covers them: after a crash, anything newer than the
 * source's checkpoint is still here, so the agent can tell the source to produce it again.
 *
 * Layout: `seg-<n>.log` segments of records (spoolSegments.ts, appended by spoolWriter.ts) and
 * `state.json` (acked and checkpointed seq per disk+generation, spoolState.ts), replaced
 * atomically; records as in spoolRecord.ts. A torn tail (crash mid-append) fails its hashes and
 * is cut off on open; it was never synced, so never sent.
 */

export type { SpoolEntry, SpoolKey, SpoolOptions } from './spoolTypes';

export class Spool {
  private entries: SpoolEntry[] = [];
  private state!: SpoolState;
  private lastSeq: SeqMap = {};
  private readonly wakeups = new Wakeups();
  private readonly writer: SpoolWriter;
  /** Highest seq queued per disk+generation (written or not). */
  private reserved: SeqMap = {};
  private mutex: Promise<unknown> = Promise.resolve();
  /** Envelopes just appended, sent from memory until acknowledged. */
  private readonly hot: HotEnvelopes;
  /** Highest seq Event Hubs accepted per disk+generation: ahead of the saved state until ack() saved it. */
  private readonly accepted: SeqMap = {};
  /** Sent batches kept until the control plane confirms them stored (`keepSentBytes`). */
  private readonly sent = new SentBatches();

  /** Acknowledged: accepted by Event Hubs (saved or not yet), or given up (abandon()). */
  private acked(key: string): number {
    return Math.max(this.accepted[key] ?? 0, this.state.acked(key));
  }

  /** append, ack and checkpoint change segments and state: one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutex.then(fn);
    this.mutex = run.catch(() => undefined);
    return run;
  }

  private constructor(
    readonly dir: string,
    readonly options: SpoolOptions,
  ) {
    this.writer = new SpoolWriter(dir, options.segmentBytes ?? 32 * 1024 * 1024, {
      written: (e, envelope) => {
        this.entries.push(e);
        this.hot.keep(e, envelope);
        this.lastSeq[keyOf(e)] = e.seq;
      },
      // The failed seqs were never taken: numbering resumes after the last written one.
      failed: () => {
        for (const k of Object.keys(this.reserved)) this.reserved[k] = this.lastSeq[k] ?? 0;
      },
      settled: () => this.wake(),
    });
    this.hot = new HotEnvelopes(options.hotBytes ?? 64 * 1024 * 1024);
  }

  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const s = new Spool(dir, options);
    await s.recover();
    return s;
  }

  private async recover(): Promise<void> {
    this.state = await SpoolState.load(this.dir);
    this.entries = await recoverSegments(this.dir, this.writer.segments);
    for (const e of this.entries) {
      const k = keyOf(e);
      this.lastSeq[k] = Math.max(this.lastSeq[k] ?? 0, e.seq);
    }
    for (const [k, v] of this.state.seqs()) this.lastSeq[k] = Math.max(this.lastSeq[k] ?? 0, v);
    await this.collect();
  }

  /** The seq the next batch of this disk+generation gets (dense from 1; queued appends count). */
  nextSeq(k: SpoolKey): number {
    return Math.max(this.lastSeq[keyOf(k)] ?? 0, this.reserved[keyOf(k)] ?? 0) + 1;
  }

  lastSeqs(): SeqMap {
    return { ...this.lastSeq };
  }

  ackedSeq(k: SpoolKey): number {
    return this.acked(keyOf(k));
  }

  /** Highest seq the control plane confirmed stored in Azure (or let go past keepSentBytes). */
  confirmedSeq(k: SpoolKey): number {
    return this.state.confirmed(keyOf(k));
  }

  /** Live bytes on disk (acked records stay until their segment can go). */
  bytes(): number {
    return this.writer.bytes();
  }

  /** Segments only sent batches awaiting confirmation hold: they never take room (keepSentBytes). */
  private keptBytes = 0;

  hasRoom(bytes: number): boolean {
    return this.bytes() - this.keptBytes + bytes + HDR + 256 <= this.options.maxBytes;
  }

  /** Unacked entries, in append order (= seq order per disk). */
  pending(): SpoolEntry[] {
    return this.entries.filter((e) => e.seq > this.acked(keyOf(e)) || this.sent.resends(e));
  }

  pendingBytes(k?: SpoolKey): number {
    let n = 0;
    for (const e of this.pending()) if (!k || keyOf(k) === keyOf(e)) n += e.length;
    return n;
  }

  /** Highest seq of this disk+generation a source checkpoint covered (0 = never checkpointed). */
  checkpointSeq(k: SpoolKey): number {
    return this.state.checkpoint(keyOf(k));
  }

  /** Generations of a disk that have batches here (or had: acked/checkpointed seqs). */
  generations(diskId: string): number[] {
    const keys = Object.keys(this.lastSeq).map(splitKey);
    return keys
      .filter((k) => k.diskId === diskId)
      .map((k) => k.generation)
      .sort((a, b) => a - b);
  }

  /**
   * Gives up the unsent batches of a disk generation a resync replaced (ingest would refuse
   * them): they count as acknowledged and checkpointed, so they are never sent and their
   * segments go. Returns how many were dropped.
   */
  abandon(k: SpoolKey): Promise<number> {
    return this.exclusive(async () => {
      const key = keyOf(k);
      const last = this.lastSeq[key] ?? 0;
      const dropped = this.entries.filter(
        (e) => keyOf(e) === key && e.seq > this.acked(key),
      ).length;
      this.state.raiseAll(key, last);
      this.sent.forget(key);
      this.dropAckedHot();
      await this.saveAndCollect();
      return dropped;
    });
  }

  /** Entries newer than the source's last checkpoint: their changes may be missing from its state. */
  afterCheckpoint(): SpoolEntry[] {
    return this.entries.filter((e) => e.seq > this.state.checkpoint(keyOf(e)));
  }

  /**
   * Appends and syncs one sealed batch; resolves once it is durable. `seq` must be nextSeq():
   * it is taken at the call, so batches sealed in parallel are appended in the order they were
   * handed over. Appends that arrive while a write is in flight go out together in the next
   * one (one writev, one fdatasync: group commit).
   */
  append(k: SpoolKey & { seq: number }, envelope: Buffer): Promise<SpoolEntry> {
    if (k.seq !== this.nextSeq(k)) {
      return Promise.reject(
        new HavenError(
          'internal',
          `Spool expects seq ${this.nextSeq(k)} for ${keyOf(k)}, got ${k.seq}.`,
        ),
      );
    }
    this.reserved[keyOf(k)] = k.seq;
    const written = this.writer.enqueue(k, envelope);
    void this.exclusive(() => this.writer.writeQueued());
    return written;
  }

  /** Reads through its own descriptor, so a concurrent roll or collection cannot close it underneath. */
  async read(e: SpoolEntry): Promise<Buffer> {
    return this.hot.get(e) ?? readEntry(this.dir, e);
  }

  /**
   * Event Hubs accepted these. They count as acknowledged at once (pending() leaves them out, so
   * the sender goes on); the record of it is saved behind the appends already queued (the
   * promise), and only then may their segments go (collect() looks at the saved state). A crash
   * before the save sends them again, byte-identical: ingest takes them as the duplicates they are.
   */
  ack(done: readonly SpoolEntry[]): Promise<void> {
    for (const e of done) {
      const k = keyOf(e);
      this.accepted[k] = Math.max(this.accepted[k] ?? 0, e.seq);
      this.sent.taken(e);
    }
    this.dropAckedHot();
    return this.exclusive(() => this.ackNow(done));
  }

  private async ackNow(done: readonly SpoolEntry[]): Promise<void> {
    for (const e of done) this.state.raiseAcked(keyOf(e), e.seq);
    this.dropAckedHot();
    await this.saveAndCollect();
  }

  /** The change source persisted state covering every batch up to these seqs. */
  setCheckpoint(seqs: SeqMap): Promise<void> {
    return this.exclusive(() => {
      for (const [k, v] of Object.entries(seqs)) this.state.raiseCheckpoint(k, v);
      return this.saveAndCollect();
    });
  }

  /** The state is saved before any segment it lets go is removed; waiters then look again. */
  private async saveAndCollect(): Promise<void> {
    await this.state.save();
    await this.collect();
    this.wake();
  }

  /**
   * The control plane has every batch of these disk generations up to `seq` stored in Azure
   * (its disk listing): they are no longer kept; nor are those of a disk's earlier generations,
   * which it has moved past. Only with `keepSentBytes`.
   */
  confirm(stored: readonly (SpoolKey & { seq: number })[]): Promise<void> {
    return this.exclusive(async () => {
      if (!confirmMarks(this.state, this.lastSeq, stored)) return;
      await this.saveAndCollect();
    });
  }

  /**
   * Sends again these batches of a disk generation, which Event Hubs took and the control plane
   * never stored (ingest drops a duplicate by its seq). False, and nothing changes, when one of
   * them was not sent yet or is no longer kept.
   */
  resend(k: SpoolKey, seqs: readonly number[]): boolean {
    const key = keyOf(k);
    const held = { entries: this.entries, after: this.state.confirmed(key), upTo: this.acked(key) };
    if (!this.sent.resend(k, seqs, held)) return false;
    this.wake();
    return true;
  }

  /** Acknowledged (or abandoned) envelopes are never read again. */
  private dropAckedHot(): void {
    this.hot.drop((e) => e.seq <= this.acked(keyOf(e)));
  }

  /** Sent (saved as acknowledged) and covered by a source checkpoint. */
  private done(e: SpoolEntry): boolean {
    const k = keyOf(e);
    return e.seq <= this.state.acked(k) && e.seq <= this.state.checkpoint(k);
  }

  private removable(e: SpoolEntry): boolean {
    return this.done(e) && (!this.options.keepSentBytes || e.seq <= this.state.confirmed(keyOf(e)));
  }

  private async collect(): Promise<void> {
    if (this.options.keepSentBytes) {
      const done = (e: SpoolEntry) => this.done(e);
      const kept = keepWithin(
        this.entries,
        this.state,
        this.writer,
        done,
        this.options.keepSentBytes,
      );
      this.keptBytes = kept.bytes;
      if (kept.raised) await this.state.save();
    }
    if (await removeSegments(this.dir, this.writer, this.entries, (e) => this.removable(e))) {
      const live = new Set(this.writer.segments.keys());
      this.entries = this.entries.filter((e) => live.has(e.segment));
      this.wake();
    }
    // The active segment is rolled once all of it is sent, so it can go (or be kept) next time.
    const active = this.writer.current;
    if (
      active &&
      active.size > 0 &&
      this.entries.every((e) => e.segment !== active.n || this.done(e))
    ) {
      await this.writer.closeActive();
      await this.collect();
    }
  }

  /** Resolves on the next append or collection (the sender and the batcher wait on this). */
  changed(signal?: AbortSignal): Promise<void> {
    return this.wakeups.next(signal);
  }

  private wake(): void {
    this.wakeups.wakeAll();
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.writer.closeActive());
    this.wake();
  }
}
