import { conflict } from '../errors';
import type { ProtectedItems } from '../controlPlane/protectedItems';
import { RecoveryJob, type RecoveryJobType, type RecoveryRequest } from './operations';
import { parsePointChoice, type PointChoice } from './pointChoice';
import type { PointSource } from './pointSource';
import type { RecoveryRecords } from './recoveryRecords';
import { resolvePoint } from './resolvePoint';

/**
 * Read-only checks of a recovery request: every refusal (wrong state, unknown point, a point of
 * another machine or still being cut, a test failover already there, a job already acting on
 * the failover) happens here, before anything is written, so it changes nothing.
 */
export async function checkRecoveryRequest(
  d: { items: ProtectedItems; records: RecoveryRecords; points: PointSource },
  op: RecoveryJobType,
  machineId: string,
  body: RecoveryRequest,
): Promise<unknown> {
  const checkPoint = (choice: PointChoice) => resolvePoint(d.points, machineId, choice);
  const item = await d.items.find(machineId);
  if (!item) throw conflict(`Machine '${machineId}' is not protected.`, { state: null });
  const state = item.doc.state;
  const rec = await d.records.get(machineId);
  const need = (want: string) => {
    if (state !== want)
      throw conflict(`Machine '${machineId}' is '${state}'; ${op} needs '${want}'.`, { state });
  };
  const idle = () => {
    if (rec.failover?.busyJobId)
      throw conflict(`Job '${rec.failover.busyJobId}' is already acting on the failover.`, {
        jobId: rec.failover.busyJobId,
      });
  };
  switch (op) {
    case RecoveryJob.testFailover:
      need('protected');
      if (rec.test)
        throw conflict(
          `A test failover of '${machineId}' is already there (job '${rec.test.jobId}'); clean it up first.`,
          {
            jobId: rec.test.jobId,
          },
        );
      return checkPoint(parsePointChoice(body.point, 'latest'));
    case RecoveryJob.failover:
      need('protected');
      // A planned failover's point is the final bookmark, taken while it runs.
      if (body.planned && body.point === undefined) return checkPoint('latest');
      return checkPoint(parsePointChoice(body.point, 'latest'));
    case RecoveryJob.testFailoverCleanup:
      if (!rec.test) throw conflict(`Machine '${machineId}' has no test failover.`, { test: null });
      if (rec.test.state === 'starting')
        throw conflict(
          'The test failover is still starting; clean it up once it is ready or failed.',
          {
            jobId: rec.test.jobId,
          },
        );
      if (rec.test.state === 'cleaning')
        throw conflict(`Cleanup job '${rec.test.cleanupJobId}' is already running.`, {
          jobId: rec.test.cleanupJobId,
        });
      return;
    case RecoveryJob.changePoint: {
      need('failed-over');
      idle();
      if (body.point === undefined) throw conflict('change-recovery-point needs a point.');
      const p = await checkPoint(parsePointChoice(body.point, 'latest'));
      if (p.id === rec.failover?.vm?.pointId)
        throw conflict(`The failover already runs on point '${p.id}'.`, { pointId: p.id });
      return;
    }
    case RecoveryJob.commit:
    case RecoveryJob.cancel:
      need('failed-over');
      return idle();
    case RecoveryJob.reprotect:
      return need('committed');
    case RecoveryJob.failback:
      need('reprotected');
      if (!rec.failback)
        throw conflict(`Machine '${machineId}' has no reverse replication to fail back with.`);
      return;
    case RecoveryJob.commitFailback:
      need('failed-back');
      if (!rec.failback) throw conflict(`Machine '${machineId}' has no failback to commit.`);
      if (rec.failback.committedAt)
        throw conflict(`The failback of '${machineId}' is already committed.`, {
          committedAt: rec.failback.committedAt,
        });
      if (rec.failback.commitJobId)
        throw conflict(`Job '${rec.failback.commitJobId}' is already committing the failback.`, {
          jobId: rec.failback.commitJobId,
        });
      return;
    case RecoveryJob.reenable:
      need('failed-back');
      // As in ASR: the failback is committed first (the Azure VM and disks are gone; the final
      // snapshots stay as the new replicas' seed), so nothing of the old failover is left half.
      if (!rec.failback?.committedAt)
        throw conflict(
          `Commit the failback of '${machineId}' first (haven failback commit ${machineId}).`,
          { committed: false },
        );
      return;
  }
}
