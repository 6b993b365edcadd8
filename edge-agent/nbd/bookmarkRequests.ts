import type { BookmarkRequest } from '../changeSource';
import type { MachineJournal } from '../journal/journal';

/**
 * Bookmark requests into the machine journal. The cut is decided when the record is appended:
 * one append between writes of all disks. While journaling is stopped (overflow) a request
 * waits, in order, until insertWaiting() finds journaling resumed.
 */
export class BookmarkRequests {
  private waiting: Array<BookmarkRequest & { resolve: () => void }> = [];
  /** LSN of the newest bookmark inserted here. */
  lastLsn = 0;

  constructor(
    private readonly journal: MachineJournal,
    private readonly log: (msg: string) => void,
  ) {}

  get pending(): boolean {
    return this.waiting.length > 0;
  }

  private insert(req: BookmarkRequest): boolean {
    const r = this.journal.insertBookmark({
      id: req.id,
      consistency: req.consistency,
      groupId: req.groupId,
      ...(req.barrier ? { barrier: true } : {}),
    });
    if (r) this.lastLsn = r.lsn;
    return r !== undefined;
  }

  /** Appends the bookmark now, or queues it (then `onWait`, so the reader retries). */
  request(req: BookmarkRequest, onWait: () => void): Promise<void> {
    if (this.insert(req)) return Promise.resolve();
    this.log(`journal source: bookmark ${req.id} waits: journaling is stopped (overflow)`);
    return new Promise((resolve) => {
      this.waiting.push({ ...req, resolve });
      onWait();
    });
  }

  insertWaiting(): void {
    while (this.waiting.length && !this.journal.overflowed) {
      const req = this.waiting.shift()!;
      this.insert(req);
      req.resolve();
    }
  }
}
