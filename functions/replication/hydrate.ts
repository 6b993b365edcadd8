import { app, type InvocationContext } from '@azure/functions';
import { getRoot } from '../../app/root';
import { hydrateStaged } from '../../core/replication/hydrate';
import { STAGING, parseStagingName } from '../../core/replication/names';
import { hydrateDurableClient, signalsFor } from './protectionSignals';

/** The staging blob name from the trigger metadata (`{name}` of `staging/{name}`). */
export function stagedName(context: InvocationContext): string {
  const m = context.triggerMetadata ?? {};
  if (typeof m.name === 'string') return m.name;
  const path = String(m.blobTrigger ?? m.BlobTrigger ?? '');
  return path.startsWith(`${STAGING}/`) ? path.slice(STAGING.length + 1) : path;
}

function isStagingName(name: string): boolean {
  try {
    parseStagingName(name);
    return true;
  } catch {
    return false; // a stray blob must not be retried into the poison queue
  }
}

/** Staged batch written → drain its disk into the replica (lease, in order, points). */
export async function hydrateHandler(_blob: unknown, context: InvocationContext): Promise<void> {
  const name = stagedName(context);
  if (!isStagingName(name)) return context.warn(`hydrate: ignoring ${name} (not a staged batch)`);
  const root = await getRoot();
  const { deps, options, drains } = root.replication;
  const run = await drains.run(parseStagingName(name), (joined) =>
    hydrateStaged(deps, options, name, signalsFor(root, context), joined),
  );
  if (run.joined) return context.log(`hydrate ${name}: joined the drain running for its disk`);
  const r = run.outcome;
  const q = r.requests;
  context.log(
    `hydrate ${name}: ${r.status}, applied ${r.applied}, watermark ${r.appliedSeq}${r.points.length ? `, points ${r.points.join(',')}` : ''}${q ? `, groups ${r.groups ?? 0}, page writes ${q.pageWrites}, clears ${q.clears}, read-backs ${q.readBacks}, index reads ${q.indexReads}, index writes ${q.indexWrites}` : ''}`,
  );
}

app.storageBlob('hydrate', {
  path: `${STAGING}/{name}`,
  connection: 'HAVEN_STORAGE_CONNECTION',
  source: 'EventGrid',
  extraInputs: [hydrateDurableClient],
  handler: hydrateHandler,
});
