import { createHash } from 'node:crypto';
import type { Collection, DocumentStore } from '../documents/ports';
import { conflict, isHavenError } from '../errors';
import { recoveryCollectionsDefs, type IdempotencyDoc } from './model';

const DAY = 24 * 3600 * 1000;

const hash = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000'), 'utf8').digest('hex');

/** Stable JSON (sorted keys) so the same body hashes the same whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

/**
 * `Idempotency-Key` on recovery POSTs: the same key with the same body answers the job the
 * first request started; the same key with another body is a 409. Keys live for a day.
 */
export class IdempotencyKeys {
  private readonly docs: Collection<IdempotencyDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.docs = documents.collection(recoveryCollectionsDefs.idempotencyKeys);
  }

  private id = (machineId: string, operation: string, key: string) =>
    hash(machineId, operation, key);

  /** The job an earlier request with this key started, or undefined. 409 for another body. */
  async lookup(
    machineId: string,
    operation: string,
    key: string,
    body: unknown,
  ): Promise<string | undefined> {
    const found = await this.docs.get(machineId, this.id(machineId, operation, key));
    if (!found) return undefined;
    if (found.doc.bodyHash !== hash(canonical(body)))
      throw conflict('This Idempotency-Key was used with a different request body.', {
        jobId: found.doc.jobId,
      });
    return found.doc.jobId;
  }

  /** Records the key; a concurrent request that recorded it first wins (its job is returned). */
  async record(
    machineId: string,
    operation: string,
    key: string,
    body: unknown,
    jobId: string,
  ): Promise<string> {
    const now = this.clock();
    try {
      await this.docs.create({
        id: this.id(machineId, operation, key),
        machineId,
        operation,
        bodyHash: hash(canonical(body)),
        jobId,
        createdAt: new Date(now).toISOString(),
        expiresAt: now + DAY,
      });
      return jobId;
    } catch (e) {
      if (!(isHavenError(e) && e.kind === 'conflict')) throw e;
      return (await this.lookup(machineId, operation, key, body)) ?? jobId;
    }
  }
}
