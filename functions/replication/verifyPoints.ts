import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { verifyDuePoints } from '../../core/replication/verifyPoint';

/**
 * Hourly: machines whose last verified point is older than the policy (`verifyEveryHours`) get
 * their newest materialized point read back from its snapshots and checked against its digest.
 */
export async function verifyPointsHandler(
  _timer: Timer,
  context: InvocationContext,
): Promise<void> {
  const { deps, options } = (await getRoot()).replication;
  const { verified, failures } = await verifyDuePoints(deps, options.verifyEveryHours);
  const bad = verified.filter((v) => !v.ok).map((v) => `${v.machineId}/${v.pointId}`);
  context.log(
    `verify: ${verified.length} points read back, ${bad.length} mismatched ${bad.join(' ')}`,
  );
  for (const f of failures) context.warn(`verify: ${f.machineId}: ${f.error.message}`);
}

app.timer('verifyRecoveryPoints', { schedule: '0 7 * * * *', handler: verifyPointsHandler });
