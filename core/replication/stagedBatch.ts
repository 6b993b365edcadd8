import { HavenError, integrity, isHavenError } from '../errors';
import type { StoredBlob } from './blobPorts';
import { incomingContainerOf } from '../batch';
import { BATCHES, STAGING, parseStagingName } from './names';
import type { ReplicationDeps } from './ports';

const MAGIC = Buffer.from('HVP1');

/**
 * What `staging/{name}` holds for a claim-checked batch: a few hundred bytes naming where the
 * envelope is. The blob trigger downloads what it fires on, so a staged blob stays small; the
 * bulk bytes are read once, by the hydrator that applies them (which checks their sha256 and
 * the AEAD before applying anything). Today that is the agent's upload itself in `incoming/`
 * (nothing copied, nothing read twice); pointers of the first design name a copy in `batches/`.
 */
export interface StagedPointer {
  /** `batches`, or the machine's claim-check container (`in-<machineId>`). */
  container: string;
  /** `incoming`: the claim-check upload (`{machineId}/…`); `batches`: the staging name and the sha256. */
  blob: string;
  size: number;
  sha256: string;
}

/** `container:name` of a staged batch's payload, as staged metadata and hydrate carry it. */
export function payloadRef(p: Pick<StagedPointer, 'container' | 'blob'>): string {
  return p.container === BATCHES ? p.blob : `${p.container}:${p.blob}`;
}

function parsePayloadRef(ref: string): { container: string; blob: string } {
  const i = ref.indexOf(':');
  return i < 0
    ? { container: BATCHES, blob: ref }
    : { container: ref.slice(0, i), blob: ref.slice(i + 1) };
}

/** Content-addressed: a redelivery finds the same name, another envelope never does. */
export function batchBlobName(stagingName: string, sha256: string): string {
  return `${stagingName}/${sha256}`;
}

export function encodeStagedPointer(p: StagedPointer): Buffer {
  return Buffer.concat([MAGIC, Buffer.from(JSON.stringify(p))]);
}

/**
 * `undefined` when the staged blob is not a pointer (an inline envelope). A pointer that does
 * not name the content-addressed copy of this very staging name is an integrity error.
 */
export function decodeStagedPointer(stagingName: string, b: Buffer): StagedPointer | undefined {
  if (b.length < MAGIC.length || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let v: Partial<Omit<StagedPointer, 'container'>> & { container?: unknown };
  try {
    v = JSON.parse(b.subarray(MAGIC.length).toString('utf8')) as typeof v;
  } catch {
    throw integrity(`Staged pointer ${stagingName} is not JSON.`);
  }
  const { machineId } = parseStagingName(stagingName);
  const named =
    v.container === BATCHES
      ? v.blob === batchBlobName(stagingName, String(v.sha256))
      : v.container === incomingContainerOf(machineId) &&
        typeof v.blob === 'string' &&
        v.blob.startsWith(`${machineId}/`) &&
        /^[A-Za-z0-9._-]+$/.test(v.blob.slice(machineId.length + 1));
  if (
    !named ||
    typeof v.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.sha256) ||
    typeof v.size !== 'number' ||
    !Number.isSafeInteger(v.size) ||
    v.size < 1
  ) {
    throw integrity(`Staged pointer ${stagingName} does not name its batch's payload.`);
  }
  return {
    container: v.container as StagedPointer['container'],
    blob: v.blob!,
    size: v.size,
    sha256: v.sha256,
  };
}

export interface Staged extends StoredBlob {
  /** payloadRef of the envelope a pointer names (deleted with the pointer once applied). */
  batch?: string;
  /** The staged blob cannot be opened (bad pointer, copy gone): the disk stops on it. */
  refused?: HavenError;
}

/** A staged batch with its envelope: inline, or through its pointer to `batches/`. */
export async function readStaged(deps: ReplicationDeps, name: string): Promise<Staged | undefined> {
  const staged = await deps.blobs.readBlob(STAGING, name);
  if (!staged) return undefined;
  let pointer;
  try {
    pointer = decodeStagedPointer(name, staged.data);
  } catch (e) {
    if (isHavenError(e) && !e.retryable) return { ...staged, refused: e };
    throw e;
  }
  if (!pointer) return staged;
  const batch = payloadRef(pointer);
  // Exactly the size ingest saw, of a block blob (what a claim-check upload is): a payload that
  // grew, shrank or changed kind since is refused. One request reads it and says what it is.
  const head = await deps.blobs.readHead(pointer.container, pointer.blob, pointer.size);
  if (
    !head ||
    head.size !== pointer.size ||
    head.kind !== 'block' ||
    head.data.length !== pointer.size
  ) {
    const refused = new HavenError(
      'integrity',
      `Staged batch ${name} points to ${pointer.container}/${pointer.blob}, which is ${head ? 'of another size' : 'gone'}.`,
    );
    return { ...staged, batch, refused };
  }
  return { data: head.data, etag: staged.etag, metadata: staged.metadata, batch };
}

/** The envelope's payload first: a pointer left behind by a crash is dropped as a late duplicate. */
export async function deleteStaged(
  deps: ReplicationDeps,
  name: string,
  batch?: string,
): Promise<boolean> {
  if (batch) {
    const p = parsePayloadRef(batch);
    await deps.blobs.deleteBlob(p.container, p.blob).catch(() => false);
  }
  return deps.blobs.deleteBlob(STAGING, name).catch(() => false);
}
