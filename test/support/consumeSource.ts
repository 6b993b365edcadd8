import type { ChangeRecord } from '../../edge-agent/changeSource';
import type { JournalChangeSource } from '../../edge-agent/nbd/journalChangeSource';

/**
 * Consumes a journal change source as the agent does, until `signal` aborts: each extent goes
 * to `onExtent`, then its memory is handed back (the batcher does so once it sealed it); at
 * each idle what was read is committed and checkpointed (segments released, then recycled).
 */
export async function consumeSource(
  source: JournalChangeSource,
  signal: AbortSignal,
  onExtent: (r: Extract<ChangeRecord, { kind: 'extent' }>) => void,
): Promise<void> {
  for await (const r of source.changes(signal)) {
    if (r.kind === 'idle') {
      source.committed(r.pos);
      await source.checkpoint();
    } else if (r.kind === 'extent') {
      onExtent(r);
      r.release?.();
    }
  }
}
