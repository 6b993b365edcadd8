import {
  MAX_INLINE_DATA_BYTES,
  claimLocation,
  dataBytes,
  decodeBatch,
  envelopeDigest,
  isEnvelope,
  parseBatchRef,
  headerPrefixLength,
  peekHeader,
  peekHeaderPrefix,
  stagingBlobName,
  type BatchBookmark,
  type BatchHeader,
  type BatchRef,
} from '../batch';
import { isHavenError, type ErrorKind } from '../errors';
import { recordRejection, stopDisk } from './incidents';
import { diskGenerations, liveGeneration } from './generations';
import { STAGING } from './names';
import { encodeStagedPointer, payloadRef } from './stagedBatch';
import type { ReplicationDeps, ReplicationOptions } from './ports';
import { diskDocId, type DiskReplicationDoc } from './state';

/** One Event Hubs event as the trigger saw it. */
export interface IngestEvent {
  body: Buffer;
  /** Partition key the publisher used (must be the machine id). */
  partitionKey?: string;
  /** Publisher of `haven-batches/publishers/{machineId}` sends, when the hub reports it. */
  publisher?: string;
  sequenceNumber?: number;
  offset?: string;
}

/** Staged and duplicate batches are stored: they count towards their points' durability. */
export type IngestOutcome =
  | { status: 'staged'; stagingName: string; bookmark?: BatchBookmark; diskSize?: number }
  | { status: 'duplicate'; stagingName: string; bookmark?: BatchBookmark; diskSize?: number }
  | { status: 'conflict'; stagingName: string; reason: string }
  | { status: 'rejected'; kind: string; reason: string };

/**
 * Reads shared by the events of one trigger invocation. A watermark read at the start of the
 * invocation may be a little behind the hydrator: a batch it already applied is then staged
 * again, and the hydrator drops it as a late duplicate (same digest) or stops on a conflict.
 */
export interface IngestLookups {
  generations: typeof diskGenerations;
  /**
   * Set by ingestEvents: instead of telling the hydrate trigger about every staged batch, the
   * invocation tells it once per disk, about the highest seq, after all are staged (a drain
   * starts at the watermark and takes everything contiguous; one trigger per batch mostly
   * answered "busy"). A crash before that is covered by the redelivery (duplicates re-nudge).
   */
  nudges?: Map<string, string>;
}

/**
 * Bytes of a claim-check upload read to find its header (~170 bytes per extent: the agent's
 * batches have at most 1024 extents, so one read holds the header of each).
 */
const HEADER_READ = 256 * 1024;

/** A refusal of the event: recorded, never retried. */
class Rejection extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Runs a check whose HavenErrors mean "this event is bad" (not "a dependency failed"). */
async function check<T>(fn: () => T | Promise<T>, prefix = ''): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isHavenError(e) && !e.retryable) throw new Rejection(e.kind, prefix + e.message);
    throw e;
  }
}

/**
 * Verifies one event and stages its batch immutably as `staging/{m}/{d}/{gen}/{seq:012}`.
 * Bad input is recorded (rejections / alerts) and returned, never thrown: a poison event must
 * not block the partition. Dependency failures (storage, Cosmos) throw, so the trigger fails
 * and the checkpoint does not advance.
 */
export async function ingestEvent(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  ev: IngestEvent,
  lookups?: IngestLookups,
): Promise<IngestOutcome> {
  let header: BatchHeader | undefined;
  let ref: BatchRef | undefined;
  try {
    const sender = ev.partitionKey ?? ev.publisher;
    if (!sender)
      throw new Rejection(
        'unauthenticated',
        'The event has no partition key or publisher naming its machine.',
      );
    if (ev.publisher && ev.partitionKey && ev.publisher !== ev.partitionKey) {
      throw new Rejection(
        'forbidden',
        `Publisher ${ev.publisher} sent with partition key ${ev.partitionKey}.`,
      );
    }

    // 1. The header: of the inline envelope, or read from the claim-check upload. Only the
    // header is read there: the payload moves into storage once (the agent's upload) and out
    // once (hydrate, which checks its sha256 against the reference and the AEAD before
    // applying anything; a payload that fails that stops the disk as an integrity incident).
    let envelope: Buffer | undefined;
    let h: BatchHeader;
    if (isEnvelope(ev.body)) {
      envelope = ev.body;
      h = await check(() => peekHeader(envelope!));
      const plain = dataBytes(h);
      if (plain > MAX_INLINE_DATA_BYTES)
        throw new Rejection(
          'too-large',
          `Inline batch ${h.diskId} #${h.seq} carries ${plain} bytes of data; over ${MAX_INLINE_DATA_BYTES} it must be a claim check.`,
        );
    } else {
      const r = await check(() => parseBatchRef(ev.body));
      ref = r;
      if (r.machineId !== sender) {
        throw new Rejection(
          'forbidden',
          `Claim check names machine ${r.machineId} but arrived from ${sender}.`,
        );
      }
      const { container: claimContainer, name: claimName } = claimLocation(r);
      // One request: the blob's start with its size, kind and ETag.
      const head = await deps.blobs.readHead(
        claimContainer,
        claimName,
        Math.min(r.size, HEADER_READ),
      );
      if (!head) {
        if (await claimAlreadyTaken(deps, r))
          return { status: 'duplicate', stagingName: refName(r) };
        throw new Rejection('not-found', `Claim-check blob ${r.blob} does not exist.`);
      }
      if (head.kind !== 'block' || head.size !== r.size) {
        throw new Rejection(
          'integrity',
          `Claim-check blob ${r.blob} is a ${head.size}-byte ${head.kind} blob; its reference says a ${r.size}-byte block blob.`,
        );
      }
      h = await check(async () => {
        // One read holds the header of every batch the agent makes; a longer one takes a second.
        let prefix = head.data;
        const need = headerPrefixLength(prefix, r.size);
        if (need > prefix.length)
          prefix = await deps.blobs.readRange(
            claimContainer,
            claimName,
            0,
            Math.min(r.size, need),
            undefined,
            head.etag,
          );
        return peekHeaderPrefix(prefix, r.size);
      });
      if (
        h.machineId !== r.machineId ||
        h.diskId !== r.diskId ||
        h.generation !== r.generation ||
        h.seq !== r.seq
      ) {
        throw new Rejection(
          'integrity',
          `Claim-check blob ${r.blob} holds a different batch than its reference names.`,
        );
      }
    }
    header = h;
    // A reverse batch (cloud → site, sealed under the same data key) never enters the forward
    // path: the direction is in the authenticated header, so this cannot be stripped.
    if (h.direction === 'to-site') {
      throw new Rejection(
        'validation',
        `Batch ${h.diskId} #${h.seq} is a to-site (failback) batch.`,
      );
    }

    // 2. Who sent it: the partition/publisher is the machine, the machine is known, the disk is its own.
    if (h.machineId !== sender) {
      throw new Rejection('forbidden', `Batch for machine ${h.machineId} arrived from ${sender}.`);
    }
    const machine = await deps.machines.getMachine(h.machineId);
    if (!machine) throw new Rejection('unauthenticated', `Machine ${h.machineId} is not enrolled.`);
    const disk = machine.disks.find((d) => d.diskId === h.diskId);
    if (!disk)
      throw new Rejection(
        'forbidden',
        `Disk ${h.diskId} does not belong to machine ${h.machineId}.`,
      );
    if (disk.sizeBytes !== h.diskSize) {
      throw new Rejection(
        'validation',
        `Header diskSize ${h.diskSize} does not match disk ${h.diskId} (${disk.sizeBytes} bytes).`,
      );
    }

    // 3. Authenticity: the AEAD under the machine's data key (also checks every extent's sha256).
    // An inline envelope is in hand; a claim-checked one is checked where it is read, by hydrate.
    // Its key id is checked here either way: an unknown key is an authentication failure.
    if (envelope) {
      const env = envelope;
      await check(
        () => decodeBatch(env, (m, k) => deps.keys.getDataKey(m, k)),
        `Batch ${h.diskId} g${h.generation} seq ${h.seq}: `,
      ).catch((e: unknown) => {
        if (e instanceof Rejection && e.kind === 'not-found')
          throw new Rejection('unauthenticated', e.message);
        throw e;
      });
    } else {
      await check(() => deps.keys.getDataKey(h.machineId, h.keyId)).catch((e: unknown) => {
        if (e instanceof Rejection && e.kind === 'not-found')
          throw new Rejection('unauthenticated', e.message);
        throw e;
      });
    }

    // 4. Where it fits in the disk's sequence.
    const digest = envelope ? envelopeDigest(envelope) : ref!.sha256;
    const name = stagingBlobName(h.machineId, h.diskId, h.generation, h.seq);
    const docs = await (lookups?.generations ?? diskGenerations)(deps, h.machineId, h.diskId);
    const live = liveGeneration(docs);
    const newest = Math.max(0, ...docs.map((d) => d.generation));
    if (h.generation < live) {
      throw new Rejection(
        'conflict',
        `Generation ${h.generation} of disk ${h.diskId} is older than the live generation ${live}.`,
      );
    }
    // The control plane's generation is the ceiling (a resync may skip one the agent never sent).
    if (h.generation > (disk.generation ?? newest + 1)) {
      throw new Rejection(
        'validation',
        `Generation ${h.generation} of disk ${h.diskId} is from the future (newest is ${disk.generation ?? newest}).`,
      );
    }
    const state: DiskReplicationDoc | undefined = docs.find(
      (d) => d.id === diskDocId(h.diskId, h.generation),
    );
    if (state?.stopped) {
      throw new Rejection(
        'conflict',
        `Disk ${h.diskId} g${h.generation} is stopped: ${state.stopped.reason}`,
      );
    }
    const applied = state?.appliedSeq ?? 0;
    if (h.seq <= applied) {
      const seen = state?.recent.find((r) => r.seq === h.seq);
      if (seen?.sha256 === digest) {
        // Applied already; a delivery that died before dropping its claim-check upload left it.
        await dropClaim(deps, ref);
        return { status: 'duplicate', stagingName: name, ...marker(h) };
      }
      if (seen) return await conflictStop(deps, h, name, digest, seen.sha256);
      throw new Rejection(
        'conflict',
        `seq ${h.seq} of disk ${h.diskId} was applied long ago (watermark ${applied}); a replay cannot be checked.`,
      );
    }
    if (h.seq > applied + opts.maxSeqAhead) {
      throw new Rejection(
        'validation',
        `seq ${h.seq} of disk ${h.diskId} is from the future (watermark ${applied}, window ${opts.maxSeqAhead}).`,
      );
    }

    // 5. Stage immutably: never overwrite; same content is a duplicate, other content a conflict.
    // A claim-checked batch is staged as a pointer to the upload itself (nothing is copied);
    // the blob trigger downloads what it fires on, so staging holds only a few hundred bytes.
    await deps.blobs.ensureContainer(STAGING);
    const size = envelope ? envelope.length : ref!.size;
    const meta: Record<string, string> = { sha256: digest, size: String(size) };
    let staged: Buffer = envelope ?? Buffer.alloc(0);
    if (ref) {
      const pointer = {
        container: claimLocation(ref).container,
        blob: claimLocation(ref).name,
        size,
        sha256: digest,
      } as const;
      staged = encodeStagedPointer(pointer);
      meta.batch = payloadRef(pointer);
    }
    const put = await deps.blobs.putBlockBlobIfAbsent(STAGING, name, staged, meta);
    if (put === 'exists') {
      const props = await deps.blobs.getProperties(STAGING, name);
      const other = props?.metadata.sha256;
      if (other !== undefined && other !== digest)
        return await conflictStop(deps, h, name, digest, other);
      // Re-nudge: the first delivery may have staged it and failed before nudging. The upload
      // stays: the same envelope has the same claim-check name, so it is what staging names.
      await nudge(deps, name, lookups);
      return { status: 'duplicate', stagingName: name, ...marker(h) };
    }
    await nudge(deps, name, lookups);
    return { status: 'staged', stagingName: name, ...marker(h) };
  } catch (e) {
    if (!(e instanceof Rejection)) throw e;
    await recordRejection(deps, {
      // Filed under the sender (the partition it came from), not what the unverified header claims.
      machineId: ev.partitionKey ?? ev.publisher ?? header?.machineId ?? 'unknown',
      ...(header ? { diskId: header.diskId, generation: header.generation, seq: header.seq } : {}),
      kind: e.kind,
      reason: e.message,
      source: {
        ...(ev.partitionKey ? { partitionKey: ev.partitionKey } : {}),
        ...(ev.sequenceNumber !== undefined ? { sequenceNumber: ev.sequenceNumber } : {}),
        ...(ev.offset !== undefined ? { offset: ev.offset } : {}),
        ...(ref ? { blob: ref.blob } : {}),
      },
    });
    return { status: 'rejected', kind: e.kind, reason: e.message };
  }
}

async function conflictStop(
  deps: ReplicationDeps,
  h: BatchHeader,
  name: string,
  digest: string,
  existing: string,
): Promise<IngestOutcome> {
  const reason = `Conflicting batch: disk ${h.diskId} g${h.generation} seq ${h.seq} arrived with sha256 ${digest.slice(0, 12)}… but ${existing.slice(0, 12)}… is already recorded; the disk is stopped.`;
  await stopDisk(
    deps,
    {
      machineId: h.machineId,
      diskId: h.diskId,
      generation: h.generation,
      diskSize: h.diskSize,
      seq: h.seq,
    },
    'replication-conflict',
    reason,
    { stagingName: name, sha256: digest, existingSha256: existing },
  );
  await recordRejection(deps, {
    machineId: h.machineId,
    diskId: h.diskId,
    generation: h.generation,
    seq: h.seq,
    kind: 'conflict',
    reason,
    source: {},
  });
  return { status: 'conflict', stagingName: name, reason };
}

/** Tells the hydrate trigger about `name` now, or records it for the invocation's end. */
async function nudge(deps: ReplicationDeps, name: string, lookups?: IngestLookups): Promise<void> {
  if (!lookups?.nudges) return deps.events.written(STAGING, name);
  const disk = name.slice(0, name.lastIndexOf('/'));
  const cur = lookups.nudges.get(disk);
  if (!cur || cur < name) lookups.nudges.set(disk, name); // seq is zero-padded: names sort
}

const marker = (h: BatchHeader) =>
  h.bookmark ? { bookmark: h.bookmark, diskSize: h.diskSize } : {};

const refName = (r: BatchRef) => stagingBlobName(r.machineId, r.diskId, r.generation, r.seq);

/**
 * A claim check whose blob is gone is a redelivery (Event Hubs at-least-once, an agent resend)
 * when the first delivery already staged or applied that very envelope: ingest deletes the claim
 * blob once the batch is staged. Same seq and digest → a duplicate, not a rejection.
 */
async function claimAlreadyTaken(deps: ReplicationDeps, r: BatchRef): Promise<boolean> {
  const state = await deps.docs.disks.get(r.machineId, diskDocId(r.diskId, r.generation));
  if (state?.doc.recent.some((x) => x.seq === r.seq && x.sha256 === r.sha256)) return true;
  const staged = await deps.blobs.getProperties(STAGING, refName(r));
  return staged?.metadata.sha256 === r.sha256;
}

async function dropClaim(deps: ReplicationDeps, ref: BatchRef | undefined): Promise<void> {
  if (!ref) return;
  // Applied already (and its staged payload deleted): this upload is a resend, garbage.
  const { container, name } = claimLocation(ref);
  await deps.blobs.deleteBlob(container, name);
}
