import { HavenError, integrity, isHavenError } from '../errors';
import type { StoredBlob } from './blobPorts';
import { BATCHES, STAGING } from './names';
import type { ReplicationDeps } from './ports';

const MAGIC = Buffer.from('HVP1');

/**
 * What `staging/{name}` holds for a claim-checked batch: a few hundred bytes naming the verified
 * copy of the envelope in `batches/`. The blob trigger downloads what it fires on, so a staged
 * blob stays small; the bulk bytes are read once, by the hydrator that applies them.
 */
export interface StagedPointer {
  /** Name in the `batches` container: the staging name and the envelope's sha256. */
  blob: string;
  size: number;
  sha256: string;
}

/** Content-addressed: a redelivery finds the same name, another envelope never does. */
export function batchBlobName(stagingName: string, sha256: string): string {
  return `${stagingName}/${sha256}`;
}

export function encodeStagedPointer(p: StagedPointer): Buffer {
  return Buffer.concat([MAGIC, Buffer.from(JSON.stringify({ container: BATCHES, ...p }))]);
}

/**
 * `undefined` when the staged blob is not a pointer (an inline envelope). A pointer that does
 * not name the content-addressed copy of this very staging name is an integrity error.
 */
export function decodeStagedPointer(stagingName: string, b: Buffer): StagedPointer | undefined {
  if (b.length < MAGIC.length || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let v: Partial<StagedPointer> & { container?: unknown };
  try {
    v = JSON.parse(b.subarray(MAGIC.length).toString('utf8')) as typeof v;
  } catch {
    throw integrity(`Staged pointer ${stagingName} is not JSON.`);
  }
  if (
    v.container !== BATCHES ||
    typeof v.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.sha256) ||
    typeof v.size !== 'number' ||
    !Number.isSafeInteger(v.size) ||
    v.blob !== batchBlobName(stagingName, v.sha256)
  ) {
    throw integrity(`Staged pointer ${stagingName} does not name its batch copy.`);
  }
  return { blob: v.blob, size: v.size, sha256: v.sha256 };
}

export interface Staged extends StoredBlob {
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
  const copy = await deps.blobs.readBlob(BATCHES, pointer.blob);
  if (!copy || copy.data.length !== pointer.size) {
    const refused = new HavenError(
      'integrity',
      `Staged batch ${name} points to ${BATCHES}/${pointer.blob}, which is ${copy ? 'of another size' : 'gone'}.`,
    );
    return { ...staged, batch: pointer.blob, refused };
  }
  return { data: copy.data, etag: staged.etag, metadata: staged.metadata, batch: pointer.blob };
}

/** The envelope's copy first: a pointer left behind by a crash is dropped as a late duplicate. */
export async function deleteStaged(
  deps: ReplicationDeps,
  name: string,
  batch?: string,
): Promise<boolean> {
  if (batch) await deps.blobs.deleteBlob(BATCHES, batch).catch(() => false);
  return deps.blobs.deleteBlob(STAGING, name).catch(() => false);
}
