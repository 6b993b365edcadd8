import type { Log } from './agentTypes';
import type { CloudDisk } from './controlPlaneClient';
import type { Spool } from './spool';
import { keyOf, type SpoolKey } from './spoolTypes';

/** How long a gap (a sent batch missing while later ones are stored) may last before it is sent again. */
export const RESEND_AFTER_MS = 60_000;
/**
 * How much longer the wait is when nothing after the frontier is stored: that is what an ingest
 * outage looks like too, so only the first missing batch is sent again, and later.
 */
const TAIL_FACTOR = 5;
/** Each further send of the same batches waits twice as long, up to this. */
const MAX_RESEND_WAIT_MS = 30 * 60_000;

/** A disk generation as one listing gives it: stored up to `seq`, and these seqs beyond. */
type Stored = SpoolKey & { seq: number; ahead: readonly number[] };

/**
 * The end-to-end acknowledgement: Event Hubs taking a batch is not its arrival. Each listing
 * of the machine's disks says how far each generation is stored in Azure (`stagedSeq`, and
 * `stagedAhead`: seqs stored past a gap); the spool lets go of what is stored. A seq the agent
 * sent that is missing while later ones are stored (a gap), with the frontier not moving for
 * `resendAfterMs`, is lost on the way: exactly the missing seqs are sent again (ingest takes
 * them as it would have, and drops a duplicate by its seq). When nothing past the frontier is
 * stored, the batch after it may be lost, or ingest may be down: only that one batch is sent
 * again, after five times the wait (an outage must not bring every kept batch back at once).
 * The wait doubles after each send (up to 30 min). A lost batch then costs a batch sent twice,
 * not the disk copied again; the control plane's gap watch (minutes later) stays the backstop
 * for batches the spool no longer holds.
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
    const stored: Stored[] = cloud.flatMap((c) =>
      c.stagedSeq === undefined
        ? []
        : [
            {
              diskId: c.id,
              generation: c.generation ?? 1,
              seq: c.stagedSeq,
              ahead: c.stagedAhead ?? [],
            },
          ],
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
      const missing = missingSeqs(s, sentTo);
      const gap = missing.length > 0 && missing.at(-1)! < Math.max(...s.ahead);
      const factor = gap ? 1 : TAIL_FACTOR;
      if (!w || w.stagedSeq !== s.seq) {
        this.waiting.set(k, { stagedSeq: s.seq, since: now, waitMs: this.resendAfterMs });
        continue;
      }
      if (now - w.since < w.waitMs * factor) continue;
      const seqs = gap ? missing : missing.slice(0, 1);
      const fields = { diskId: s.diskId, generation: s.generation, seqs, sentTo };
      if (this.spool.resend(s, seqs))
        this.log('sending batches again: sent, and not stored in Azure', fields);
      else this.log('batches sent and not stored in Azure are no longer in the spool', fields);
      w.since = now;
      w.waitMs = Math.min(w.waitMs * 2, MAX_RESEND_WAIT_MS);
    }
  }
}

/**
 * The seqs after the frontier up to the newest stored one that are not stored (a gap), or, when
 * none past it is stored, those after it up to what was sent (at most 256 listed).
 */
function missingSeqs(s: Stored, sentTo: number): number[] {
  const ahead = new Set(s.ahead);
  const last = ahead.size ? Math.min(sentTo, Math.max(...ahead)) : sentTo;
  const out: number[] = [];
  for (let seq = s.seq + 1; seq <= last && out.length < 256; seq++)
    if (!ahead.has(seq)) out.push(seq);
  return out;
}
