import type { SpoolEntry } from './spool';

export interface Outbound {
  entry: SpoolEntry;
  envelope: Buffer;
}

/** Where sealed batches go. `send` resolves only when the service has acknowledged all of them, in order. */
export interface BatchSink {
  send(items: readonly Outbound[]): Promise<void>;
  /**
   * Optional: start the work for an item that will be sent soon (a claim-check upload), so
   * its `send` finds it done. Called in spool order; an item may never be sent by this sink
   * (it closed meanwhile), so the work must be idempotent.
   */
  prepare?(item: Outbound): void;
  /**
   * The batches reach the control plane, which lists how far each disk generation is stored
   * (`stagedSeq`): the agent keeps what it sent until then, and sends again what does not come.
   */
  readonly confirmed?: boolean;
  close(): Promise<void>;
}
