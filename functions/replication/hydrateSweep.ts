import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { sweepStaged } from '../../core/replication/sweep';
import { hydrateDurableClient, signalsFor } from './protectionSignals';

/** Every 30 s: drain disks whose staged batches no trigger is draining (dead lease holder, lost event). */
export async function hydrateSweepHandler(
  _timer: Timer,
  context: InvocationContext,
): Promise<void> {
  const root = await getRoot();
  const { deps, options } = root.replication;
  const { outcomes, failures } = await sweepStaged(deps, options, signalsFor(root, context));
  const applied = outcomes.reduce((n, o) => n + o.applied, 0);
  if (applied > 0)
    context.log(`hydrate sweep: applied ${applied} batches on ${outcomes.length} disks`);
  for (const f of failures) context.warn(`hydrate sweep: ${f.disk}: ${f.error.message}`);
}

app.timer('hydrateSweep', {
  schedule: '*/30 * * * * *',
  extraInputs: [hydrateDurableClient],
  handler: hydrateSweepHandler,
});
