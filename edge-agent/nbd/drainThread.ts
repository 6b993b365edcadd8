import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../moduleWorker';
import { unpackResult, type PackedResult } from './drainTransfer';
import type { DrainWorkerData, DrainWorkerMessage } from './drainWorker';
import type { DrainOptions, DrainRequest, DrainResult, MemoryRef } from './drainTypes';
import { JournalDrain } from './journalDrain';

/** Where the journal drain runs: its own thread (DrainThread), or the caller's (InlineDrain). */
export interface Drain {
  /** Polls run beside the caller (a thread): asking for the next one early overlaps them. */
  readonly background: boolean;
  /** Resolves once the drain can answer at once (its thread started, its code loaded). */
  ready(): Promise<void>;
  /**
   * `memory` gives an extent that lies in a record the caller lent the drain (the request's
   * snapshot.memory): its bytes there, and a hold on them. A drain on the caller's thread hands
   * out the record's memory itself.
   */
  poll(req: DrainRequest, memory?: MemoryLookup): Promise<DrainResult>;
  close(): Promise<void>;
}

/** See Drain.poll. */
export type MemoryLookup = (
  ref: MemoryRef,
  length: number,
) => { data: Buffer; release: () => void };

/** The drain on the calling thread: the NBD server's event loop waits while it reads. */
export class InlineDrain implements Drain {
  readonly background = false;
  private readonly drain: JournalDrain;
  constructor(fromLsn: number, opts: DrainOptions) {
    this.drain = new JournalDrain(fromLsn, opts);
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  poll(req: DrainRequest): Promise<DrainResult> {
    try {
      return Promise.resolve(this.drain.poll(req));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  close(): Promise<void> {
    this.drain.close();
    return Promise.resolve();
  }
}

/**
 * The drain in a worker thread: the journal read-back, coalescing and extent joins (a copy of
 * every byte) leave the event loop that serves NBD requests. Requests and results are messages;
 * extent bytes are moved, not copied (drainTransfer.ts).
 */
export class DrainThread implements Drain {
  readonly background = true;
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: PackedResult | undefined) => void; reject: (e: Error) => void }
  >();
  private failed?: Error;
  private readonly started: Promise<void>;

  constructor(fromLsn: number, opts: DrainOptions) {
    const data: DrainWorkerData = { fromLsn, opts };
    this.worker = startModuleWorker(__filename, 'drainWorker', data);
    // A source nobody closed must not keep the process alive.
    this.worker.unref();
    let started = () => {};
    this.started = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (m: { id: number; res?: PackedResult; error?: string }) => {
      if (m.id === 0) return started();
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!this.pending.size) this.worker.unref();
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.res);
    });
    const fail = (e: Error) => {
      this.failed = e;
      started();
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`journal drain thread exited (${code})`)));
  }

  private send(m: { req: DrainRequest } | { close: true }): Promise<PackedResult | undefined> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Referenced only while a reply is awaited: an idle drain never keeps the process alive.
      if (!this.pending.size) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const msg: DrainWorkerMessage = { ...m, id };
      this.worker.postMessage(msg);
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  /**
   * Extents come with release(): once each extent of a pack chunk was released, the chunk goes
   * back to the thread to be filled again.
   */
  async poll(req: DrainRequest, memory?: MemoryLookup): Promise<DrainResult> {
    const free = (chunk: ArrayBuffer) => {
      if (this.failed) return;
      const msg: DrainWorkerMessage = { id: 0, spare: [chunk] };
      this.worker.postMessage(msg, [chunk]);
    };
    return unpackResult((await this.send({ req }))!, free, memory);
  }

  async close(): Promise<void> {
    if (!this.failed) await this.send({ close: true }).catch(() => undefined);
    await this.worker.terminate();
  }
}
