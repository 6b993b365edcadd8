import type { DocumentStore, Versioned } from '../documents/ports';
import { HavenError, conflict, notFound } from '../errors';
import { diskDocId, replicationCollectionsOf } from '../replication/state';
import { streakRecord } from './autoResyncBackoff';
import { assertMachineResyncPace } from './machineResyncPace';
import type { Jobs } from './jobs';
import { agentDisksOf, type AgentDiskView } from './agentDisks';
import { toDiskView, type DiskView, type Machines } from './machines';
import {
  collectionsDefs,
  type DiskDoc,
  type DiskResync,
  type JobDoc,
  type ProtectedItemDoc,
} from './model';
import type { ProtectedItemState } from './protectedItemState';
import { RESYNC_JOB, resyncJobInput } from './resyncJob';
import type { ProtectedItems } from './protectedItems';
import type { JobLauncher } from './protection';
import type { DiskFacts } from './schemas';

/** States whose disks replicate to Azure: a resync starts a new generation there. */
const RESYNCABLE: ReadonlySet<ProtectedItemState> = new Set([
  'enabling',
  'initial-sync',
  'initial-sync-stalled',
  'protected',
]);

export interface ResyncRequest {
  requestedBy: DiskResync['requestedBy'];
  reason?: string;
  idempotencyKey?: string;
  /** A resize: the new generation has this size. */
  sizeBytes?: number;
  /** auto: which automatic resync in a row this one is (recorded for the next one's back-off). */
  autoInARow?: number;
  /**
   * Only while this is still the disk's generation: the automatic resync of a generation read a
   * moment ago, which an operator's resync may have moved past since (its streak then no longer
   * applies). A 409 without `retryAfterSeconds` otherwise.
   */
  ofGeneration?: number;
}

export interface ResyncResult {
  disk: DiskView;
  /** Null when the disk is not protected (a resize then only records the new generation). */
  job: JobDoc | null;
  item: ProtectedItemDoc | null;
  /** False when an earlier request already started this generation (same key, or still pending). */
  created: boolean;
}

const pending = (r: DiskResync | undefined): r is DiskResync => !!r && !r.completedAt;

/** Whether the item's disk replicates to Azure (a resync of it starts a new generation there). */
export const replicating = (item: ProtectedItemDoc | null | undefined, diskId: string) =>
  !!item && RESYNCABLE.has(item.state) && item.disks.includes(diskId);

/**
 * Resyncs (architecture §2 "Generations and resync"): a disk's next generation replicates into a
 * fresh replica (the hydrator creates `g{N}.vhd` at the disk's current size; the resync saga
 * makes sure of it up front), older points stay readable until retention drops them. The
 * control plane holds the generation the agent must send; ingest refuses generations beyond it.
 *
 * A protected item goes `protected → initial-sync` under the resync job and back to `protected`
 * once every pending resync of the machine has its first recovery point (`settle`, run by the
 * resync saga on each new point and on a timer).
 */
export class Resyncs {
  private readonly disks;
  private readonly replication;
  private readonly frontiers;

  constructor(
    documents: DocumentStore,
    private readonly machines: Machines,
    private readonly items: ProtectedItems,
    private readonly jobs: Jobs,
    private readonly clock: () => number,
    private readonly launcher?: JobLauncher,
  ) {
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.replication = replicationCollectionsOf(documents).disks;
    this.frontiers = replicationCollectionsOf(documents).frontiers;
  }

  /**
   * Starts the disk's next generation, or answers the one already started: the same
   * idempotency key, or a pending resync whose generation is not stopped (and no new size).
   * 404 unknown machine/disk; 409 when the disk is not replicating to Azure (a resize of an
   * unprotected disk only records its new size and generation).
   */
  async request(
    machineId: string,
    diskId: string,
    req: ResyncRequest,
    launcher: JobLauncher | undefined = this.launcher,
  ): Promise<ResyncResult> {
    await this.machines.getDoc(machineId);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.disks.get(machineId, diskId);
      if (!cur) throw notFound('Disk', `${machineId}/${diskId}`);
      const item = (await this.items.find(machineId))?.doc ?? null;
      const protectedNow = replicating(item, diskId);
      if (!protectedNow && req.requestedBy !== 'resize') {
        throw conflict(
          `Disk '${diskId}' of machine '${machineId}' is not replicating; nothing to resync.`,
          {
            state: item?.state ?? null,
            protectedDisks: item?.disks ?? [],
          },
        );
      }
      const gen = cur.doc.generation ?? 1;
      const last = cur.doc.resync;
      const resized = req.sizeBytes !== undefined && req.sizeBytes !== cur.doc.sizeBytes;
      if (last && req.idempotencyKey && last.idempotencyKey === req.idempotencyKey) {
        return this.answer(cur.doc, item, launcher);
      }
      if (req.ofGeneration !== undefined && req.ofGeneration !== gen)
        throw conflict(
          `Disk '${diskId}' of machine '${machineId}' is at generation ${gen} now, not ${req.ofGeneration}.`,
          { generation: gen },
        );
      // One resize at a time: a size that flip-flops (A, B, A, B…) would otherwise start a
      // generation, a fresh replica and a job per report. The next resize waits until this
      // generation has its first point (or stopped: then it can never get one).
      if (
        protectedNow &&
        resized &&
        pending(last) &&
        !(await this.stopped(machineId, diskId, last.generation))
      ) {
        throw conflict(
          `Disk '${diskId}' of machine '${machineId}' is resyncing as generation ${last.generation} (${last.requestedBy}); resize it again once that generation has its first recovery point.`,
          { generation: last.generation, sizeBytes: cur.doc.sizeBytes, jobId: last.jobId ?? null },
        );
      }
      if (
        protectedNow &&
        pending(last) &&
        last.generation === gen &&
        !resized &&
        !(await this.stopped(machineId, diskId, gen))
      ) {
        return this.answer(cur.doc, item, launcher);
      }

      if (protectedNow)
        assertMachineResyncPace({ machineId, diskId }, req.requestedBy, last, this.clock());
      const job = protectedNow ? await this.jobs.create(RESYNC_JOB, { machineId }) : null;
      const now = new Date(this.clock()).toISOString();
      const resync: DiskResync = {
        generation: gen + 1,
        requestedAt: now,
        requestedBy: req.requestedBy,
        ...(req.reason ? { reason: req.reason } : {}),
        ...(job ? { jobId: job.id } : { completedAt: now }),
        ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
        ...(resized ? { previousSizeBytes: cur.doc.sizeBytes } : {}),
        ...streakRecord(req, last, this.clock()),
      };
      const next: DiskDoc = {
        ...cur.doc,
        sizeBytes: req.sizeBytes ?? cur.doc.sizeBytes,
        generation: gen + 1,
        resync,
      };
      let written: Versioned<DiskDoc>;
      try {
        written = await this.disks.replace(next, { ifMatch: cur.etag });
      } catch (e) {
        if (job) await this.jobs.discard(job.id).catch(() => undefined);
        // A concurrent request moved the disk: decide again from what it wrote.
        if (e instanceof HavenError && e.kind === 'precondition' && attempt < 5) continue;
        throw e;
      }
      if (!job) return { disk: toDiskView(written.doc), job: null, item, created: true };
      let itemNow = item;
      if (item?.state === 'protected') {
        itemNow = await this.items
          .transition(machineId, 'initial-sync', {
            from: ['protected'],
            jobId: job.id,
            reason: `resync of disk ${diskId} (generation ${gen + 1})`,
          })
          .then((v) => v.doc)
          // Moved meanwhile (another resync took it, a failover): the disk's generation stands.
          .catch(async () => (await this.items.find(machineId))?.doc ?? null);
      }
      await launcher?.start(job, resyncJobInput(written.doc));
      return { disk: toDiskView(written.doc), job, item: itemNow, created: true };
    }
  }

  /**
   * Registers a disk (Machines.addDisk); a known disk reported with another size is accepted as
   * a resync into a replica of the new size. Other changed facts stay a 409.
   */
  async addDisk(
    machineId: string,
    facts: DiskFacts,
    launcher: JobLauncher | undefined = this.launcher,
  ): Promise<{ disk: DiskView; created: boolean; resync?: ResyncResult }> {
    try {
      return await this.machines.addDisk(machineId, facts);
    } catch (e) {
      const d = e instanceof HavenError && e.kind === 'conflict' ? e.details : undefined;
      if (!d || d.logicalSectorSize !== facts.logicalSectorSize || d.sizeBytes === facts.sizeBytes)
        throw e;
      const resync = await this.request(
        machineId,
        facts.id,
        {
          requestedBy: 'resize',
          reason: `disk resized from ${String(d.sizeBytes)} to ${facts.sizeBytes} bytes`,
          sizeBytes: facts.sizeBytes,
        },
        launcher,
      );
      return { disk: resync.disk, created: false, resync };
    }
  }

  /**
   * Marks resyncs whose generation has published a recovery point complete, and moves the
   * item back to `protected` when a resync job holds it and nothing is pending. `done` tells
   * the saga of `jobId` whether its disks are finished (or can never finish: not replicating,
   * superseded by a newer resync).
   */
  async settle(
    machineId: string,
    jobId?: string,
  ): Promise<{ done: boolean; pending: string[]; state: ProtectedItemState | null }> {
    const res = await this.disks.query({ partitionKey: machineId, limit: 1000 });
    const open: DiskDoc[] = [];
    for (const { doc, etag } of res.items) {
      const r = doc.resync;
      if (!pending(r)) continue;
      const gen = await this.replication.get(machineId, diskDocId(doc.id, r.generation));
      if (!gen?.doc.complete) {
        open.push(doc);
        continue;
      }
      const completedAt = new Date(this.clock()).toISOString();
      await this.disks
        .replace({ ...doc, resync: { ...r, completedAt } }, { ifMatch: etag })
        .catch((e: unknown) => {
          // A new request replaced the record meanwhile: it is that one's to settle.
          if (!(e instanceof HavenError && e.kind === 'precondition')) throw e;
        });
    }
    let item = (await this.items.find(machineId))?.doc ?? null;
    if (item?.state === 'initial-sync' && open.length === 0) {
      const holder = await this.jobs.get(item.jobId).catch(() => undefined);
      if (holder?.type === RESYNC_JOB) {
        item = (
          await this.items.transition(machineId, 'protected', {
            from: ['initial-sync'],
            jobId: item.jobId,
            reason: 'resync complete',
          })
        ).doc;
      }
    }
    const replicating = !!item && RESYNCABLE.has(item.state);
    const mine = open.filter((d) => d.resync?.jobId === jobId);
    return {
      done: !replicating || mine.length === 0,
      pending: open.map((d) => d.id),
      state: item?.state ?? null,
    };
  }

  /** The agent's disk listing: each disk's generation and the cloud's watermark in it. */
  /** The machine's disks as its agent lists them (agentDisks.ts). */
  agentDisks(machineId: string): Promise<AgentDiskView[]> {
    return agentDisksOf(this.machines, this.replication, this.frontiers, machineId);
  }

  private async stopped(machineId: string, diskId: string, generation: number) {
    return !!(await this.replication.get(machineId, diskDocId(diskId, generation)))?.doc.stopped;
  }

  /** An earlier request's answer; its job starts again if its first start failed. */
  private async answer(
    doc: DiskDoc,
    item: ProtectedItemDoc | null,
    launcher: JobLauncher | undefined,
  ): Promise<ResyncResult> {
    const jobId = doc.resync?.jobId;
    const job = jobId ? await this.jobs.get(jobId).catch(() => null) : null;
    if (job?.state === 'queued') await launcher?.start(job, resyncJobInput(doc));
    return { disk: toDiskView(doc), job, item, created: false };
  }
}
