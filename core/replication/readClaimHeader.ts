import {
  claimLocation,
  headerPrefixLength,
  peekHeaderPrefix,
  stagingBlobName,
  type BatchHeader,
  type BatchRef,
} from '../batch';
import { STAGING } from './names';
import type { ReplicationDeps } from './ports';
import { check, Rejection } from './rejection';
import { diskDocId } from './state';

/**
 * Bytes of a claim-check upload read to find its header (~170 bytes per extent: the agent's
 * batches have at most 1024 extents, so one read holds the header of each).
 */
const HEADER_READ = 256 * 1024;

/**
 * The header of a claim-checked batch, read from the agent's upload. Only the header is read:
 * the payload moves into storage once (the upload) and out once (hydrate, which checks its
 * sha256 against the reference and the AEAD before applying anything). An upload already gone
 * because that very envelope was staged or applied is `alreadyStaged` (a redelivery); anything
 * else wrong throws a Rejection.
 */
export async function readClaimHeader(
  deps: ReplicationDeps,
  r: BatchRef,
  sender: string,
): Promise<{ header: BatchHeader } | { alreadyStaged: string }> {
  if (r.machineId !== sender) {
    throw new Rejection(
      'forbidden',
      `Claim check names machine ${r.machineId} but arrived from ${sender}.`,
    );
  }
  const { container: claimContainer, name: claimName } = claimLocation(r);
  // One request: the blob's start with its size, kind and ETag.
  const head = await deps.blobs.readHead(claimContainer, claimName, Math.min(r.size, HEADER_READ));
  if (!head) {
    if (await claimAlreadyTaken(deps, r)) return { alreadyStaged: refName(r) };
    throw new Rejection('not-found', `Claim-check blob ${r.blob} does not exist.`);
  }
  if (head.kind !== 'block' || head.size !== r.size) {
    throw new Rejection(
      'integrity',
      `Claim-check blob ${r.blob} is a ${head.size}-byte ${head.kind} blob; its reference says a ${r.size}-byte block blob.`,
    );
  }
  const h = await check(async () => {
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
  return { header: h };
}

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
