import type { DocumentStore, Versioned } from '../documents/ports';
import { HavenError, notFound } from '../errors';
import { collectionsDefs, type ProtectedItemDoc } from './model';
import { assertTransition, type ProtectedItemState } from './protectedItemState';

const HISTORY = 20;

export interface TransitionOptions {
  /** Refuse (409) unless the item is currently in one of these states. */
  from?: readonly ProtectedItemState[];
  reason?: string;
  /** Job driving this change (recorded on the item). */
  jobId?: string;
}

/**
 * Protected items (one per machine, id = machineId). State changes go through `transition`,
 * which enforces the lifecycle and is optimistic (ETag) so concurrent sagas cannot both move
 * the same item out of the same state — e.g. two failovers (invariant 6).
 */
export class ProtectedItems {
  private readonly items;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
  }

  async find(machineId: string): Promise<Versioned<ProtectedItemDoc> | undefined> {
    return this.items.get(machineId, machineId);
  }

  async get(machineId: string): Promise<Versioned<ProtectedItemDoc>> {
    const found = await this.find(machineId);
    if (!found) throw notFound('Protected item', machineId);
    return found;
  }

  /** Creates the item (409 if one exists) — used by protect. */
  async create(doc: ProtectedItemDoc): Promise<Versioned<ProtectedItemDoc>> {
    return this.items.create(doc);
  }

  /** Replaces the item if unchanged since `etag` (re-enable of a disabled item). */
  async replace(doc: ProtectedItemDoc, etag: string): Promise<Versioned<ProtectedItemDoc>> {
    return this.items.replace(doc, { ifMatch: etag });
  }

  /**
   * Moves the item to `to`. Throws 409 `conflict` if the lifecycle (or `opts.from`) forbids
   * it. With `ifMatch`, 412 if the item changed since read; without, it re-reads and retries
   * on races but re-checks the transition each time, so a lost race ends in 409.
   */
  async transition(
    machineId: string,
    to: ProtectedItemState,
    opts: TransitionOptions & { ifMatch?: string } = {},
  ): Promise<Versioned<ProtectedItemDoc>> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get(machineId);
      if (opts.ifMatch !== undefined && opts.ifMatch !== cur.etag)
        throw new HavenError('precondition', 'The protected item changed since it was read.');
      const from = cur.doc.state;
      if (opts.from && !opts.from.includes(from)) {
        throw new HavenError(
          'conflict',
          `The protected item is '${from}', expected one of ${opts.from.join(', ')}.`,
          { from, to },
        );
      }
      assertTransition(from, to);
      const at = new Date(this.clock()).toISOString();
      const next: ProtectedItemDoc = {
        ...cur.doc,
        state: to,
        updatedAt: at,
        ...(opts.jobId ? { jobId: opts.jobId } : {}),
        history: [
          ...cur.doc.history,
          {
            from,
            to,
            at,
            ...(opts.reason ? { reason: opts.reason } : {}),
            ...(opts.jobId ? { jobId: opts.jobId } : {}),
          },
        ].slice(-HISTORY),
      };
      try {
        return await this.items.replace(next, { ifMatch: cur.etag });
      } catch (e) {
        const raced = e instanceof HavenError && e.kind === 'precondition';
        if (!raced || opts.ifMatch !== undefined || attempt >= 5) throw e;
      }
    }
  }
}
