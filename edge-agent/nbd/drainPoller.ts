import type { MachineJournal } from '../journal/journal';
import { DrainThread, InlineDrain, type Drain, type MemoryLookup } from './drainThread';
import type { DrainOptions, DrainResult, JournalSnapshot } from './drainTypes';
import type { HeldRecord } from '../journal/memoryRecords';

/**
 * Payload bytes a poll reads at the most: in a backlog the agent gets records in steps it can
 * batch while the drain thread reads the next step, not in one long read of 4,096 records.
 */
const POLL_BYTES = 16 * 1024 * 1024;

/**
 * The journal source's side of the drain: which drain (a thread, or the calling thread), the
 * journal snapshots it reads, and in a backlog the next poll asked for while the caller batches
 * the last one, so the thread's reading overlaps the agent's sealing and spooling.
 */
export class DrainPoller {
  private readonly drain: Drain;
  /** The next poll, asked for early (a backlog). */
  private ahead?: Promise<DrainResult>;

  constructor(
    private readonly journal: MachineJournal,
    fromLsn: number,
    opts: DrainOptions & { thread: boolean },
    /** Bookmarks at or below this LSN are dropped (read at each request). */
    private readonly suppressBookmarksUntil: () => number,
  ) {
    const { thread, ...drainOpts } = opts;
    this.drain = thread ? new DrainThread(fromLsn, drainOpts) : new InlineDrain(fromLsn, drainOpts);
  }

  /** Resolves once the drain is running (its thread started). */
  ready(): Promise<void> {
    return this.drain.ready();
  }

  /**
   * The journal now, for the drain: records up to lastLsn are in the files (batch written; not
   * those held behind a payload still being written O_DIRECT).
   */
  private snapshot(): JournalSnapshot {
    this.journal.flushBatch();
    const held = this.journal.takeMemoryRecords();
    // Once a thread's result says the drain cut past a record, only the extents left in it
    // read its payload (see lookup); after them the memory can be reused. An inline drain hands
    // out views of it, so those holds are never released (the memory is then collected).
    if (this.drain.background)
      for (const h of held) this.lent.set(h.record.lsn, { held: h, extents: 0, cut: false });
    return {
      lastLsn: this.journal.writtenLsn,
      segments: this.journal.segmentList().map((x) => ({ ...x })),
      disks: this.journal.disks().map((d) => ({ index: d.index, diskId: d.diskId })),
      memory: held.map((h) => h.record),
    };
  }

  /**
   * Records in memory the drain thread was given, oldest first, until it cut past them and no
   * extent it handed out lies in them any more.
   */
  private readonly lent = new Map<number, { held: HeldRecord; extents: number; cut: boolean }>();

  /** An extent the thread left in a lent record: a view of it, held until released. */
  private readonly lookup: MemoryLookup = ({ lsn, from }, length) => {
    const l = this.lent.get(lsn);
    if (!l) throw new Error(`journal drain: record ${lsn} is not kept in memory here`);
    const { data } = l.held.record;
    l.extents++;
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      if (--l.extents === 0 && l.cut) this.giveBack(lsn);
    };
    return { data: Buffer.from(data.buffer, data.byteOffset + from, length), release };
  };

  private giveBack(lsn: number): void {
    this.lent.get(lsn)?.held.release();
    this.lent.delete(lsn);
  }

  private returned(cutLsn: number): void {
    for (const [lsn, l] of this.lent) {
      if (lsn > cutLsn) break;
      l.cut = true;
      if (l.extents === 0) this.giveBack(lsn);
    }
  }

  private ask(maxItems: number, maxRecords: number): Promise<DrainResult> {
    const req = {
      snapshot: this.snapshot(),
      suppressBookmarksUntil: this.suppressBookmarksUntil(),
      maxItems,
      maxRecords,
      maxBytes: POLL_BYTES,
    };
    return this.drain.poll(req, this.lookup);
  }

  /** The next step of the journal, coalesced (see JournalDrain.poll). */
  async poll(maxItems: number, maxRecords: number): Promise<DrainResult> {
    const ahead = this.ahead;
    this.ahead = undefined;
    const res = await (ahead ?? this.ask(maxItems, maxRecords));
    if (this.drain.background) this.returned(res.cutLsn);
    // A backlog: the thread reads the next step while this one is batched. Not around a resync
    // (its scan moves where bookmarks are dropped, which the request carries); a bookmark the
    // early request should have dropped is dropped by the source anyway.
    if (
      this.drain.background &&
      res.nextLsn <= this.journal.writtenLsn &&
      this.suppressBookmarksUntil() !== Number.MAX_SAFE_INTEGER &&
      !res.items.some((i) => i.kind === 'resync')
    ) {
      this.ahead = this.ask(maxItems, maxRecords);
      this.ahead.catch(() => undefined); // surfaced by the poll that takes it
    }
    return res;
  }

  close(): Promise<void> {
    return this.drain.close();
  }
}
