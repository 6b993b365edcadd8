import type { DocumentStore } from '../documents/ports';
import { HavenError } from '../errors';
import { diskDocId, replicationCollectionsOf } from '../replication/state';
import { collectionsDefs, type DiskDoc } from './model';
import type { JobLauncher } from './protection';
import type { Resyncs } from './resyncs';

export interface AutoResyncOutcome {
  machineId: string;
  diskId: string;
  /** The stopped generation. */
  generation: number;
  /** started: its next generation (or the one an earlier run started); paced: asked too soon. */
  action: 'started' | 'paced';
  jobId?: string;
  retryAfterSeconds?: number;
  reason: string;
}

/**
 * Automatic resynchronization (as ASR's "resynchronization required" heals itself): a protected
 * disk whose current generation stopped replicating (a conflicting or refused batch, a batch
 * that never arrived) gets its next generation without waiting for an operator. It is paced
 * like the machine's own requests (one generation of a disk per 10 minutes), so a machine that
 * keeps breaking its stream costs a full copy per interval at most, each with its alert and
 * job. Idempotent: one start per stopped generation (its idempotency key).
 */
export class AutoResyncs {
  private readonly disks;
  private readonly replication;

  constructor(
    documents: DocumentStore,
    private readonly resyncs: Resyncs,
  ) {
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.replication = replicationCollectionsOf(documents).disks;
  }

  async run(machineId: string, launcher?: JobLauncher): Promise<AutoResyncOutcome[]> {
    const out: AutoResyncOutcome[] = [];
    const disks = await this.disks.query({ partitionKey: machineId, limit: 1000 });
    for (const { doc: disk } of disks.items) {
      const generation = disk.generation ?? 1;
      const gen = await this.replication.get(machineId, diskDocId(disk.id, generation));
      const stopped = gen?.doc.stopped;
      if (!stopped) continue;
      const reason = `generation ${generation} stopped: ${stopped.reason}`;
      const at = { machineId, diskId: disk.id, generation, reason };
      try {
        const r = await this.resyncs.request(
          machineId,
          disk.id,
          { requestedBy: 'auto', reason, idempotencyKey: `auto-${disk.id}-g${generation}` },
          launcher,
        );
        out.push({ ...at, action: 'started', ...(r.job ? { jobId: r.job.id } : {}) });
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'conflict')) throw e;
        const retryAfterSeconds = e.details?.retryAfterSeconds;
        // Not replicating (failed over, disabling, …): nothing to resync, as for an operator.
        if (typeof retryAfterSeconds !== 'number') continue;
        out.push({ ...at, action: 'paced', retryAfterSeconds });
      }
    }
    return out;
  }
}
