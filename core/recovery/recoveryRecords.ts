import type { Collection, DocumentStore } from '../documents/ports';
import { HavenError } from '../errors';
import { recoveryCollectionsDefs, type RecoveryRecordDoc } from './model';

/**
 * The per-machine recovery record (its test failover, its failover). Every change is a
 * read-modify-write with the ETag, retried on a concurrent writer; the change function sees
 * the current document and may throw (a refusal then changes nothing).
 */
export class RecoveryRecords {
  private readonly docs: Collection<RecoveryRecordDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.docs = documents.collection(recoveryCollectionsDefs.recoveries);
  }

  async get(machineId: string): Promise<RecoveryRecordDoc> {
    const found = await this.docs.get(machineId, machineId);
    return found?.doc ?? { id: machineId, machineId, updatedAt: '' };
  }

  /** Applies `change` (returning the next document, or undefined for "no change"). */
  async mutate(
    machineId: string,
    change: (cur: RecoveryRecordDoc) => RecoveryRecordDoc | undefined,
  ): Promise<RecoveryRecordDoc> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.docs.get(machineId, machineId);
      const cur = found?.doc ?? { id: machineId, machineId, updatedAt: '' };
      const next = change(structuredClone(cur));
      if (!next) return cur;
      next.updatedAt = new Date(this.clock()).toISOString();
      try {
        return found
          ? (await this.docs.replace(next, { ifMatch: found.etag })).doc
          : (await this.docs.create(next)).doc;
      } catch (e) {
        const raced =
          e instanceof HavenError && (e.kind === 'precondition' || e.kind === 'conflict');
        if (!raced || attempt >= 10) throw e;
      }
    }
  }

  /** Machines with a test failover (the TTL timer's scan). */
  async withTestFailover(): Promise<RecoveryRecordDoc[]> {
    const out: RecoveryRecordDoc[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.docs.query({
        where: [{ field: 'test.jobId', op: '!=', value: '' }],
        limit: 100,
        ...(continuation ? { continuation } : {}),
      });
      out.push(...page.items.map((i) => i.doc).filter((d) => d.test));
      continuation = page.continuation;
    } while (continuation);
    return out;
  }
}
