import { diskGenerations } from './generations';
import { recordDurability, type StoredBatch } from './durability';
import { ingestEvent, type IngestEvent, type IngestLookups, type IngestOutcome } from './ingest';
import { STAGING, parseStagingName } from './names';
import type { ReplicationDeps, ReplicationOptions } from './ports';

/** `fn` memoized by its string arguments; a rejected call is forgotten so a retry can succeed. */
function memoize<A extends string[], R>(
  fn: (deps: ReplicationDeps, ...args: A) => Promise<R>,
): (deps: ReplicationDeps, ...args: A) => Promise<R> {
  const seen = new Map<string, Promise<R>>();
  return (deps, ...args) => {
    const k = args.join('\u0000');
    let p = seen.get(k);
    if (!p) {
      p = fn(deps, ...args);
      p.catch(() => seen.delete(k));
      seen.set(k, p);
    }
    return p;
  };
}

/**
 * Ingests a trigger's events (cardinality many). All events are attempted; if any failed on
 * a dependency, the first such error is thrown after the others are done (their work is
 * idempotent), so the host retries the batch without advancing the checkpoint.
 */
export async function ingestEvents(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  events: IngestEvent[],
  concurrency = 8,
  /** Filled in when given: where the invocation's time went (its log line). */
  timing?: IngestTiming,
): Promise<IngestOutcome[]> {
  const started = deps.clock();
  const out = new Array<IngestOutcome>(events.length);
  let firstError: unknown;
  let next = 0;
  // One machine and one watermark lookup per disk per invocation (a batch of events is
  // mostly one machine's consecutive batches).
  const getMachine = memoize((d: ReplicationDeps, id: string) => d.machines.getMachine(id));
  // The data key too: one document read and unwrap per key per invocation, not per event.
  const getDataKey = memoize((d: ReplicationDeps, m: string, k: string) => d.keys.getDataKey(m, k));
  const cached: ReplicationDeps = {
    ...deps,
    machines: {
      getMachine: (id) => getMachine(deps, id),
      listMachineIds: () => deps.machines.listMachineIds(),
    },
    keys: { getDataKey: (m, k) => getDataKey(deps, m, k) },
  };
  const lookups: IngestLookups = { generations: memoize(diskGenerations), nudges: new Map() };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, events.length) }, async () => {
      while (next < events.length) {
        const i = next++;
        try {
          out[i] = await ingestEvent(cached, opts, events[i]!, lookups);
        } catch (e) {
          firstError ??= e;
        }
      }
    }),
  );
  // What is stored now moves the disks' staged frontiers: points become durable here, before
  // any hydration (an event that failed leaves a gap the frontier stops at until its retry).
  const stored: StoredBatch[] = [];
  for (const o of out) {
    if (o?.status !== 'staged' && o?.status !== 'duplicate') continue;
    const { bookmark, diskSize } = o;
    stored.push({
      ...parseStagingName(o.stagingName),
      ...(bookmark ? { bookmark, diskSize } : {}),
    });
  }
  const staged = deps.clock();
  try {
    for (const name of lookups.nudges!.values()) await deps.events.written(STAGING, name);
  } catch (e) {
    firstError ??= e;
  }
  try {
    const points = await recordDurability(cached, stored);
    if (timing) timing.durablePoints = points.length;
  } catch (e) {
    firstError ??= e;
  }
  if (timing) {
    timing.verifyAndStageMs = staged - started;
    timing.durabilityMs = deps.clock() - staged;
  }
  if (firstError !== undefined) throw firstError;
  return out;
}

/** How long an invocation verified and staged its events, then moved frontiers and made points. */
export interface IngestTiming {
  verifyAndStageMs?: number;
  durabilityMs?: number;
  durablePoints?: number;
}
