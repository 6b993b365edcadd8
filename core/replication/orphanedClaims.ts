import { MAX_ENVELOPE_BYTES, incomingContainerOf, makeBatchRef, peekHeader } from '../batch';
import type { IngestEvent } from './ingest';
import { ingestEvents } from './ingestEvents';
import type { ReplicationDeps, ReplicationOptions } from './ports';

/**
 * Batches re-ingested per disk in one pass (a timer run): bounds its time. A longer run of lost
 * batches goes on at the next pass, once its new gap has waited the grace.
 */
export const MAX_RECOVERED_PER_PASS = 256;
/** Claim checks ingested per invocation of the ingest path (as one Event Hubs batch would be). */
const GROUP = 32;

export interface DiskGeneration {
  machineId: string;
  diskId: string;
  generation: number;
}

export interface ClaimRecovery {
  /** Seqs staged again (or found staged) from their uploads, ascending. */
  recovered: number[];
  /** The first seq of the range with no upload left (or refused by ingest): lost for good. */
  lost?: number;
}

/**
 * Gives back the batches a frontier waits for whose events are gone but whose claim-check
 * uploads are still there. A large batch travels as an upload to its machine's `in-` container
 * and a small event naming it; the upload outlives the event (14 days against the hub's
 * retention of 7, infra/), so an ingest outage longer than the retention
 * lost only the event. The upload is what the event would have named: its own machine's
 * container (which only that machine's SAS can write), its name derived from its header, so
 * the reference rebuilt from it goes through the same ingest path and checks as the event would
 * have (identity, generation, sequence, staging; the AEAD and the sha256 by hydrate).
 *
 * Walks `[from, upTo)` skipping `staged`, and stops at the first seq without an upload: nothing
 * after a lost seq can become durable anyway.
 */
export async function ingestOrphanedClaims(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  at: DiskGeneration,
  from: number,
  upTo: number,
  staged: ReadonlySet<number>,
): Promise<ClaimRecovery> {
  const events: { seq: number; event: IngestEvent }[] = [];
  let lost: number | undefined;
  for (let seq = from; seq < upTo && events.length < MAX_RECOVERED_PER_PASS; seq++) {
    if (staged.has(seq)) continue;
    const event = await claimEventFor(deps, at, seq);
    if (!event) {
      lost = seq;
      break;
    }
    events.push({ seq, event });
  }
  const recovered: number[] = [];
  for (let i = 0; i < events.length; i += GROUP) {
    const group = events.slice(i, i + GROUP);
    const outcomes = await ingestEvents(
      deps,
      opts,
      group.map((g) => g.event),
    );
    for (const [j, o] of outcomes.entries()) {
      if (o.status === 'staged' || o.status === 'duplicate') recovered.push(group[j]!.seq);
      else return { recovered, lost: group[j]!.seq };
    }
  }
  return lost === undefined ? { recovered } : { recovered, lost };
}

/** The claim-check event `seq`'s upload would have come with, or undefined without an upload. */
async function claimEventFor(
  deps: ReplicationDeps,
  at: DiskGeneration,
  seq: number,
): Promise<IngestEvent | undefined> {
  const container = incomingContainerOf(at.machineId);
  // The name is `<machine>/<disk>-<generation>-<seq>-<nonce>`; the nonce is in the envelope only.
  const prefix = `${at.machineId}/${at.diskId}-${at.generation}-${seq}-`;
  for (const item of await deps.blobs.list(container, prefix, { max: 16 })) {
    if (item.size > MAX_ENVELOPE_BYTES) continue;
    const blob = await deps.blobs.readBlob(container, item.name);
    if (!blob) continue; // applied and deleted since the listing
    let ref;
    try {
      ref = makeBatchRef(peekHeader(blob.data), blob.data);
    } catch {
      continue; // not an envelope: ingest would refuse it too
    }
    // A name of another disk can share the prefix (disk `d` seq 1 vs disk `d-1`): the header says.
    const same =
      ref.machineId === at.machineId &&
      ref.diskId === at.diskId &&
      ref.generation === at.generation &&
      ref.seq === seq &&
      ref.blob === `${container}/${item.name}`;
    if (same) return { body: Buffer.from(JSON.stringify(ref)), partitionKey: at.machineId };
  }
  return undefined;
}
