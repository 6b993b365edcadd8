import type { DocumentStore } from '../documents/ports';
import { HavenError } from '../errors';
import { diskDocId, replicationCollectionsOf, type DiskReplicationDoc } from '../replication/state';
import { AUTO_RESYNC_LIMIT, autoResyncDelayMs, autoResyncStreak } from './autoResyncBackoff';
import { collectionsDefs, type DiskDoc, type ProtectedItemDoc } from './model';
import type { JobLauncher } from './protection';
import { replicating, type Resyncs } from './resyncs';

export interface AutoResyncOutcome {
  machineId: string;
  diskId: string;
  /** The stopped generation. */
  generation: number;
  /**
   * started: its next generation (or the one an earlier run started); paced: asked too soon
   * after the machine's own resync; backoff: too soon after the previous automatic one;
   * suspended: `AUTO_RESYNC_LIMIT` automatic ones in a row stopped, an operator must resync.
   */
  action: 'started' | 'paced' | 'backoff' | 'suspended';
  /** Which automatic resync in a row this is (or would be). */
  attempt: number;
  jobId?: string;
  retryAfterSeconds?: number;
  reason: string;
}

/**
 * Automatic resynchronization (as ASR's "resynchronization required" heals itself): a protected
 * disk whose current generation stopped replicating (a conflicting or refused batch, a batch
 * that never arrived) gets its next generation without waiting for an operator. Each is a full
 * copy of the disk, an alert and a job, so a disk whose generations keep stopping backs off
 * (the n-th automatic resync in a row waits 10 min × 2^(n-1) after the one before) and after
 * `AUTO_RESYNC_LIMIT` of them is left to an operator, with one critical alert
 * (autoResyncBackoff.ts says what ends a streak). Idempotent: one start per stopped generation
 * (its idempotency key), one alert per suspended generation (its id).
 */
export class AutoResyncs {
  private readonly disks;
  private readonly items;
  private readonly replication;

  constructor(
    documents: DocumentStore,
    private readonly resyncs: Resyncs,
    private readonly clock: () => number,
  ) {
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
    this.replication = replicationCollectionsOf(documents);
  }

  async run(machineId: string, launcher?: JobLauncher): Promise<AutoResyncOutcome[]> {
    const out: AutoResyncOutcome[] = [];
    const disks = await this.disks.query({ partitionKey: machineId, limit: 1000 });
    let item: Promise<ProtectedItemDoc | undefined> | undefined; // read once, if a disk stopped
    for (const { doc: disk } of disks.items) {
      const generation = disk.generation ?? 1;
      const gen = await this.replication.disks.get(machineId, diskDocId(disk.id, generation));
      const stopped = gen?.doc.stopped;
      if (!gen || !stopped) continue;
      const protectedItem = await (item ??= this.items
        .get(machineId, machineId)
        .then((v) => v?.doc));
      // Not replicating (failed over, disabling, …): nothing to resync, as for an operator.
      if (!replicating(protectedItem, disk.id)) continue;
      const attempt = autoResyncStreak(disk.resync, gen.doc, protectedItem) + 1;
      const reason = `generation ${generation} stopped: ${stopped.reason}`;
      const at = { machineId, diskId: disk.id, generation, attempt, reason };
      if (attempt > AUTO_RESYNC_LIMIT) {
        await this.suspend(gen.doc, reason);
        out.push({ ...at, action: 'suspended' });
        continue;
      }
      const last = disk.resync;
      if (attempt > 1 && last) {
        const wait = autoResyncDelayMs(attempt) - (this.clock() - Date.parse(last.requestedAt));
        if (wait > 0) {
          out.push({ ...at, action: 'backoff', retryAfterSeconds: Math.ceil(wait / 1000) });
          continue;
        }
      }
      try {
        const r = await this.resyncs.request(
          machineId,
          disk.id,
          {
            requestedBy: 'auto',
            reason,
            idempotencyKey: `auto-${disk.id}-g${generation}`,
            autoInARow: attempt,
            ofGeneration: generation,
          },
          launcher,
        );
        out.push({ ...at, action: 'started', ...(r.job ? { jobId: r.job.id } : {}) });
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'conflict')) throw e;
        const retryAfterSeconds = e.details?.retryAfterSeconds;
        // Stopped replicating, or resynced by someone else, since it was read: nothing to do.
        if (typeof retryAfterSeconds !== 'number') continue;
        out.push({ ...at, action: 'paced', retryAfterSeconds });
      }
    }
    return out;
  }

  /** One critical alert per suspended generation, by id: every later run finds it there. */
  private async suspend(gen: DiskReplicationDoc, reason: string): Promise<void> {
    await this.replication.alerts
      .create({
        id: `auto-resync-suspended-${gen.diskId}-g${gen.generation}`,
        machineId: gen.machineId,
        diskId: gen.diskId,
        generation: gen.generation,
        kind: 'auto-resync-suspended',
        severity: 'critical',
        message: `Disk '${gen.diskId}' is not resynced automatically any more: ${AUTO_RESYNC_LIMIT} automatic resyncs in a row stopped again (${reason}); resync it once the cause is fixed.`,
        details: { attempts: AUTO_RESYNC_LIMIT },
        at: new Date(this.clock()).toISOString(),
      })
      .catch((e: unknown) => {
        if (!(e instanceof HavenError && e.kind === 'conflict')) throw e;
      });
  }
}
