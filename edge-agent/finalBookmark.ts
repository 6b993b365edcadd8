import type { ChangeSource } from './changeSource';

/** What the control plane says about a planned failover's final bookmark (null: none wanted). */
export interface FinalBookmarkRequest {
  id: string;
  requestedAt: string;
  /** The point exists already (the bookmark was taken, maybe by an earlier run of the agent). */
  done?: boolean;
}

/**
 * A planned failover's last point (docs/recovery.md): when the control plane asks for it, the
 * agent stops taking writes (the source's write gate stays closed, as ASR shuts the source
 * down) and inserts the bookmark, so every acknowledged write is before it. Writes flow again
 * only if the request is withdrawn (the failover was cancelled or compensated). A restarted
 * agent holds again without a second bookmark once the point exists (`done`).
 */
export class FinalBookmark {
  private taken?: { id: string; release?: () => void };
  private polling = false;

  constructor(
    private readonly source: ChangeSource,
    private readonly fetchRequest: () => Promise<FinalBookmarkRequest | null>,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void,
  ) {}

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const req = await this.fetchRequest();
      if (req && this.taken?.id !== req.id) {
        this.taken?.release?.();
        // Same turn: writes stop, then the bookmark goes in, so none falls after it.
        const release = this.source.holdWrites?.();
        this.taken = { id: req.id, ...(release ? { release } : {}) };
        if (req.done) return;
        const decided = this.source.requestBookmark({ id: req.id, consistency: 'crash' });
        this.log('final bookmark for a planned failover', {
          bookmarkId: req.id,
          writesHeld: !!release,
        });
        await decided;
      } else if (!req && this.taken) {
        this.taken.release?.();
        this.log('final bookmark withdrawn: writes flow again', { bookmarkId: this.taken.id });
        this.taken = undefined;
      }
    } finally {
      this.polling = false;
    }
  }

  /** Writes are held for a final bookmark. */
  get holding(): boolean {
    return !!this.taken?.release;
  }
}
