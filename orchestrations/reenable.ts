import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { EnableProtectionActivity as P } from './activities/enableProtectionActivities';
import type { ReplicaInput } from './activities/replicaActivities';
import { FailbackEndActivity as E, type SeedDisk } from './activities/failbackEndActivities';
import { DEFAULT_INITIAL_SYNC_TIMEOUT_MS, INITIAL_SYNC_COMPLETE } from './enableProtection';
import { addMs } from './orchestrationTime';
import { runRecoverySaga, type Gen, type RecoverySaga } from './recoverySaga';

/**
 * Re-enable after a committed failback (`failed-back` → `enabling` → `initial-sync` →
 * `protected`), without a full resync: each disk's next generation gets a replica seeded in
 * the cloud from the disk's final failback snapshot (equal to the site disk at failback, which
 * the seed proves by digest), then the disks switch to it. The agent, following the switch,
 * compares the site disk against its index of the failback moment, so only what the site
 * wrote since failback travels. At the first point of every disk the item is `protected`, the
 * seed snapshots are deleted and the old failover's records are closed.
 *
 * Before the switch, a failure deletes the seeded replicas and returns to `failed-back`; after
 * it, the disks replicate and the saga only waits (a slow first point is not a failure: the
 * item is marked stalled and an alert raised, and it becomes `protected` when the point comes).
 */
export const REENABLE = 'reenable';

/**
 * Without a first point this long, the item is `initial-sync-stalled` and an alert is raised,
 * as for an initial sync (orchestrations/enableProtection.ts); the saga keeps waiting, since
 * the disks already replicate into the seeded generations and nothing is left to undo.
 */
const STALL_AFTER_MS = DEFAULT_INITIAL_SYNC_TIMEOUT_MS;
/** The longest pause between two checks: only a lost first-point signal waits that long. */
const MAX_CHECK_INTERVAL_MS = 10 * 60_000;

export const reenableOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, { machineId }) {
      s.undo.push({ kind: 'call', name: E.release, input: { machineId, jobId: s.jobId } });
      const disks = (yield s.call(E.plan, { machineId, jobId: s.jobId })) as SeedDisk[];
      const seeded = yield* s.step(
        Step.seed,
        () => s.all(disks.map((d) => seedOne(s, machineId, d))),
        30,
      );
      yield* s.step(Step.switchGeneration, function* () {
        yield s.call(E.switchGeneration, { machineId, jobId: s.jobId, disks });
        s.undo.length = 0; // the disks replicate into the seeded generations from here on
      });
      const sent = yield* s.step(Step.firstPoint, () => waitFirstPoint(s, machineId, disks), 80);
      yield* s.step(Step.deleteSnapshots, function* () {
        yield* s.all(disks.map((d) => s.del(d.snapshotId)));
      });
      yield* s.step(Step.record, function* () {
        yield s.call(E.finish, { machineId, jobId: s.jobId });
      });
      return {
        result: {
          disks: disks.map((d, i) => ({
            diskId: d.diskId,
            generation: d.generation,
            seededBytes: seeded[i]!.bytesWritten,
            digest: seeded[i]!.digest,
            // What the agent sent up to the first point: the site's writes since failback.
            bytesSentToFirstPoint: sent[d.diskId] ?? 0,
          })),
        },
        stepName: 'protected',
        allowedActions: ['failover', 'test-failover'],
      };
    },
    function* () {
      // The compensation stack holds all of it (release, replicas, indexes).
    },
  );
};

function* seedOne(
  s: RecoverySaga,
  machineId: string,
  d: SeedDisk,
): Gen<{ bytesWritten: number; digest: string }> {
  const replica: ReplicaInput = {
    machineId,
    diskId: d.diskId,
    sizeBytes: d.sizeBytes,
    generation: d.generation,
    owner: s.jobId,
    createdAt: s.now().toISOString(),
  };
  s.undo.push({ kind: 'call', name: P.deleteReplica, input: replica });
  s.undo.push({
    kind: 'call',
    name: E.unseed,
    input: { machineId, diskId: d.diskId, generation: d.generation },
  });
  yield s.call(P.createReplica, replica);
  return (yield s.call(E.seed, { ...d, machineId })) as { bytesWritten: number; digest: string };
}

/**
 * Until every disk's seeded generation has a point; the bytes each disk's agent sent by then.
 * Woken by the first-point signal hydrate raises for the job holding the item
 * (functions/replication/protectionSignals.ts), or at the latest after a pause that doubles up
 * to MAX_CHECK_INTERVAL_MS (keeps the history short over a long wait).
 */
function* waitFirstPoint(
  s: RecoverySaga,
  machineId: string,
  disks: SeedDisk[],
): Gen<Record<string, number>> {
  const stallAt = s.now().getTime() + STALL_AFTER_MS;
  let stalled = false;
  let pause = Math.max(s.facts.pollMs, 1000);
  for (;;) {
    const st = (yield s.call(E.settle, { machineId, jobId: s.jobId, disks })) as {
      done: boolean;
      bytesApplied?: Record<string, number>;
    };
    if (st.done) return st.bytesApplied ?? {};
    if (!stalled && s.now().getTime() >= stallAt) {
      stalled = true;
      yield s.call(P.raiseAlert, {
        machineId,
        jobId: s.jobId,
        kind: 'initial-sync-stalled',
        message: `Re-enable of machine '${machineId}': no recovery point of the seeded generations within ${Math.round(STALL_AFTER_MS / 1000)} s.`,
        at: s.now().toISOString(),
      });
      yield s.call(P.setState, {
        machineId,
        jobId: s.jobId,
        to: 'initial-sync-stalled',
        from: ['initial-sync'],
      });
    }
    yield* signalOrPause(s, pause);
    pause = Math.min(pause * 2, MAX_CHECK_INTERVAL_MS);
  }
}

function* signalOrPause(s: RecoverySaga, ms: number): Gen<void> {
  const signal = s.ctx.df.waitForExternalEvent(INITIAL_SYNC_COMPLETE);
  // A signal buffered before the wait completes the task at once (Task.any would not see it).
  if (signal.isCompleted) return;
  const timer = s.ctx.df.createTimer(addMs(s.now(), ms));
  if ((yield s.ctx.df.Task.any([signal, timer])) === signal) timer.cancel();
}
