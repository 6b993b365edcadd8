import type { Log } from './agentTypes';
import type { CloudDisk } from './controlPlaneClient';
import type { Spool } from './spool';
import { keyOf } from './spoolTypes';

/** How long a sent batch may stay unstored, the frontier not moving, before it is sent again. */
export const RESEND_AFTER_MS = 60_000;
/** Each further send of the same batches waits twice as long, up to this. */
const MAX_RESEND_WAIT_MS = 30 * 60_000;

/**
 * The end-to-end acknowledgement: Event Hubs taking a batch is not its arrival. Each listing
 * of the machine's disks says how far each generation is stored in Azure (`stagedSeq`); the
 * spool lets go of what is, and when the first batch past it has waited `resendAfterMs` with
 * the frontier not moving, every batch from it on is sent again (ingest drops those it has by
 * their seq). What a batch lost on the way then costs is a few batches sent twice, not the
 * disk copied again; the control plane's own gap watch (minutes later) stays the backstop for
 * batches the spool no longer holds.
 */
export class ResendWatch {
  private readonly waiting = new Map<
    string,
    { stagedSeq: number; since: number; waitMs: number }
  >();

  constructor(
    private readonly spool: Pick<Spool, 'confirm' | 'ackedSeq' | 'resend'>,
    private readonly log: Log,
    private readonly resendAfterMs = RESEND_AFTER_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** One listing of the machine's disks (a control plane without `stagedSeq` confirms nothing). */
  async listed(cloud: readonly CloudDisk[]): Promise<void> {
    const stored = cloud.flatMap((c) =>
      c.stagedSeq === undefined
        ? []
        : [{ diskId: c.id, generation: c.generation ?? 1, seq: c.stagedSeq }],
    );
    await this.spool.confirm(stored);
    const now = this.clock();
    for (const s of stored) {
      const k = keyOf(s);
      const sentTo = this.spool.ackedSeq(s);
      const w = this.waiting.get(k);
      if (sentTo <= s.seq) {
        this.waiting.delete(k);
        continue;
      }
      if (!w || w.stagedSeq !== s.seq) {
        this.waiting.set(k, { stagedSeq: s.seq, since: now, waitMs: this.resendAfterMs });
        continue;
      }
      if (now - w.since < w.waitMs) continue;
      const fields = {
        diskId: s.diskId,
        generation: s.generation,
        fromSeq: s.seq + 1,
        toSeq: sentTo,
      };
      if (this.spool.resend(s, s.seq + 1))
        this.log('sending batches again: sent, and not stored in Azure', fields);
      else this.log('batches sent and not stored in Azure are no longer in the spool', fields);
      w.since = now;
      w.waitMs = Math.min(w.waitMs * 2, MAX_RESEND_WAIT_MS);
    }
  }
}
