import type { SpoolState } from './spoolState';
import { keyOf, splitKey, type SpoolEntry, type SpoolKey } from './spoolTypes';

/**
 * The spool's batches that Event Hubs took and the control plane has not confirmed stored in
 * Azure yet: which of them are being sent again, and the bound on how many bytes are kept.
 * A batch Event Hubs acknowledged can still be lost before staging (its event outlived by an
 * ingest outage, a consumer that moved past it); kept here, it is sent again instead of its
 * disk being copied again whole.
 */
export class SentBatches {
  /** Sent batches to send again: their seqs, by disk generation key. */
  private readonly resending = new Map<string, Set<number>>();

  /** True while `e` waits to be sent again. */
  resends(e: SpoolEntry): boolean {
    return !!this.resending.get(keyOf(e))?.has(e.seq);
  }

  /** Event Hubs took `e` (again). */
  taken(e: SpoolEntry): void {
    const k = keyOf(e);
    const seqs = this.resending.get(k);
    if (!seqs?.delete(e.seq)) return;
    if (seqs.size === 0) this.resending.delete(k);
  }

  /** A disk generation given up: nothing of it is sent again. */
  forget(key: string): void {
    this.resending.delete(key);
  }

  /**
   * Marks `seqs` of a disk generation for sending again if the spool still holds each of them
   * sent and not confirmed (`held`: its entries, its confirmed seq, its last one sent); false,
   * and nothing changes, if not.
   */
  resend(
    k: SpoolKey,
    seqs: readonly number[],
    held: { entries: readonly SpoolEntry[]; after: number; upTo: number },
  ): boolean {
    const key = keyOf(k);
    const there = new Set(held.entries.filter((e) => keyOf(e) === key).map((e) => e.seq));
    const ok = (s: number) => s > held.after && s <= held.upTo && there.has(s);
    if (seqs.length === 0 || !seqs.every(ok)) return false;
    const set = this.resending.get(key) ?? new Set<number>();
    for (const s of seqs) set.add(s);
    this.resending.set(key, set);
    return true;
  }
}

/**
 * The segments that only sent batches awaiting confirmation keep (every batch in them `sent`:
 * acknowledged and checkpointed; one not confirmed; not the one being appended to), and their bytes once the
 * oldest of them are let go (their batches marked confirmed, as if the control plane had said
 * so) while they hold more than `budget`: a control plane that stops answering must not grow
 * the spool past its bound plus the budget. `raised`: some were let go (the state to save).
 */
export function keepWithin(
  entries: readonly SpoolEntry[],
  state: SpoolState,
  segments: { readonly segments: ReadonlyMap<number, number>; readonly current?: { n: number } },
  sent: (e: SpoolEntry) => boolean,
  budget: number,
): { bytes: number; raised: boolean } {
  const bySeg = new Map<number, SpoolEntry[]>();
  for (const e of entries) {
    if (e.segment === segments.current?.n) continue;
    const list = bySeg.get(e.segment);
    if (list) list.push(e);
    else bySeg.set(e.segment, [e]);
  }
  const kept = [...bySeg]
    .filter(([, es]) => es.every(sent) && es.some((e) => e.seq > state.confirmed(keyOf(e))))
    .sort(([a], [b]) => a - b);
  let bytes = kept.reduce((n, [seg]) => n + (segments.segments.get(seg) ?? 0), 0);
  let raised = false;
  for (const [seg, es] of kept) {
    if (bytes <= budget) break;
    for (const e of es) raised = state.raiseConfirmed(keyOf(e), e.seq) || raised;
    bytes -= segments.segments.get(seg) ?? 0;
  }
  return { bytes, raised };
}

/**
 * Raises the confirmed marks the control plane's listing gives (every seq up to `seq` of that
 * disk generation stored), and those of the disk's earlier generations whole (it has moved past
 * them), never past the last seq the spool numbered (`lastSeq`). True if any moved.
 */
export function confirmMarks(
  state: SpoolState,
  lastSeq: Readonly<Record<string, number>>,
  stored: readonly (SpoolKey & { seq: number })[],
): boolean {
  let raised = false;
  for (const c of stored)
    for (const [k, last] of Object.entries(lastSeq)) {
      const { diskId, generation } = splitKey(k);
      if (diskId !== c.diskId || generation > c.generation) continue;
      const seq = generation < c.generation ? last : Math.min(c.seq, last);
      raised = state.raiseConfirmed(k, seq) || raised;
    }
  return raised;
}
