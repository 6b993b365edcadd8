import {
  MAX_INLINE_DATA_BYTES,
  claimLocation,
  dataBytes,
  decodeBatch,
  envelopeDigest,
  isEnvelope,
  parseBatchRef,
  peekHeader,
  stagingBlobName,
  type BatchBookmark,
  type BatchHeader,
  type BatchRef,
} from '../batch';
import { transient } from '../errors';
import { conflictStop } from './conflictStop';
import { recordRejection } from './incidents';
import { diskGenerations, liveGeneration } from './generations';
import { STAGING } from './names';
import { readClaimHeader } from './readClaimHeader';
import { check, Rejection } from './rejection';
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
      const claim = await readClaimHeader(deps, r, sender);
      if ('alreadyStaged' in claim)
        return { status: 'duplicate', stagingName: claim.alreadyStaged };
      h = claim.header;
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
      // Never a duplicate of nothing: counted as stored, a batch no blob holds would move the
      // durable frontier past a gap that hydrate then waits at for good.
      if (!props) throw transient(`Staging ${name} was refused as existing but is not there.`);
      const other = props.metadata.sha256;
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

/** Tells the hydrate trigger about `name` now, or records it for the invocation's end. */
async function nudge(deps: ReplicationDeps, name: string, lookups?: IngestLookups): Promise<void> {
  if (!lookups?.nudges) return deps.events.written(STAGING, name);
  const disk = name.slice(0, name.lastIndexOf('/'));
  const cur = lookups.nudges.get(disk);
  if (!cur || cur < name) lookups.nudges.set(disk, name); // seq is zero-padded: names sort
}

const marker = (h: BatchHeader) =>
  h.bookmark ? { bookmark: h.bookmark, diskSize: h.diskSize } : {};

async function dropClaim(deps: ReplicationDeps, ref: BatchRef | undefined): Promise<void> {
  if (!ref) return;
  // Applied already (and its staged payload deleted): this upload is a resend, garbage.
  const { container, name } = claimLocation(ref);
  await deps.blobs.deleteBlob(container, name);
}
