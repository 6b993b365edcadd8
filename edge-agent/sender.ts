import * as path from 'node:path';
import { transient } from '../core/errors';
import type { AgentIdentity } from './agentState';
import type { ControlPlaneClient } from './controlPlaneClient';
import type { BatchSink } from './batchSink';
import { CaptureSink } from './captureSink';
import { EventHubsSink } from './eventHubsSink';
import { sleep } from './fsUtil';
import { SendRate } from './sendRate';
import { Wakeups } from './wakeups';
import type { Spool, SpoolEntry } from './spool';

/**
 * How long one take may take to be sent and acknowledged before it is given up (the sink closed,
 * its connection with it) and sent again: 30 s, plus a second per MB. Whatever the SDKs do, a
 * stalled connection then costs the RPO this much, not minutes; a send given up that lands after
 * all is a duplicate, which ingest drops by sequence number.
 */
export const sendBudgetMs = (bytes: number) => 30_000 + Math.ceil(bytes / 1_000);

/** Spooled batches whose claim checks upload ahead, while earlier ones are being sent. */
const PREPARE_AHEAD = 8;
/** ... and their envelope bytes (batches go up to 32 MiB: bounds the memory they hold). */
const PREPARE_AHEAD_BYTES = 48 * 1024 * 1024;

export interface SenderEvents {
  onError?: (e: unknown, attempt: number, retryInMs: number) => void;
  onSent?: (entries: readonly SpoolEntry[], bytes: number) => void;
}

/**
 * Drains the spool in order into the sink, acking (and so freeing) only what the sink
 * confirmed. Retries forever with capped exponential backoff and jitter.
 */
export class Sender {
  private readonly idle = new Wakeups();
  /** The save of the last take's ack (one at a time, behind the spool's appends). */
  private acking: Promise<void> = Promise.resolve();
  lastError?: string;
  /** Bytes Event Hubs acknowledged per second lately (the heartbeat's promised RPO). */
  readonly rate = new SendRate();

  constructor(
    private readonly spool: Spool,
    private readonly sink: BatchSink,
    private readonly events: SenderEvents = {},
    private readonly maxBytesPerSend = 32 * 1024 * 1024,
    private readonly sendBudget = sendBudgetMs,
  ) {}

  /** Resolves when nothing is pending in the spool. */
  drained(signal?: AbortSignal): Promise<void> {
    if (this.spool.pending().length === 0) return this.acking.catch(() => undefined);
    return this.idle.next(signal);
  }

  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const pending = this.spool.pending();
      if (pending.length === 0) {
        // Drained means saved: a caller may stop the agent next.
        await this.acking.catch(() => undefined);
        // Appended while the save ran: its wake-up came before this wait would have begun.
        if (this.spool.pending().length > 0) continue;
        this.idle.wakeAll();
        await this.spool.changed(signal);
        continue;
      }
      const take: SpoolEntry[] = [];
      let bytes = 0;
      for (const e of pending) {
        if (take.length > 0 && bytes + e.length > this.maxBytesPerSend) break;
        take.push(e);
        bytes += e.length;
      }
      try {
        const items = await Promise.all(
          take.map(async (entry) => ({ entry, envelope: await this.spool.read(entry) })),
        );
        // The next ones start their uploads while these are sent and acknowledged.
        if (this.sink.prepare) {
          const ahead: SpoolEntry[] = [];
          let aheadBytes = 0;
          for (const e of pending.slice(take.length, take.length + PREPARE_AHEAD)) {
            if (ahead.length > 0 && aheadBytes + e.length > PREPARE_AHEAD_BYTES) break;
            ahead.push(e);
            aheadBytes += e.length;
          }
          void Promise.all(
            ahead.map(async (entry) =>
              this.sink.prepare!({ entry, envelope: await this.spool.read(entry) }),
            ),
          ).catch(() => undefined);
        }
        await withinBudget(this.sink.send(items), this.sendBudget(bytes));
        // Acknowledged at once; the save waits behind the spool's appends (a write and a sync
        // of up to 48 MiB), so the next take goes out meanwhile. One save at a time: a failed
        // one surfaces here, on the next take.
        const saved = this.spool.ack(take);
        saved.catch(() => undefined);
        const previous = this.acking;
        this.acking = saved;
        await previous;
        this.rate.record(bytes);
        this.events.onSent?.(take, bytes);
        attempt = 0;
        this.lastError = undefined;
      } catch (e) {
        attempt++;
        const wait = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
        this.lastError = (e as Error).message;
        this.events.onError?.(e, attempt, wait);
        await this.sink.close().catch(() => undefined);
        await sleep(wait, signal);
      }
    }
    await this.acking.catch(() => undefined);
  }
}

/** The agent's sink: Event Hubs with the control plane's ingest token, or a capture dir. */
export function sinkFor(capture?: string) {
  return (ident: AgentIdentity, api: ControlPlaneClient): BatchSink =>
    capture
      ? new CaptureSink(path.resolve(capture))
      : new EventHubsSink(ident.machineId, () => api.ingestToken(ident.machineId));
}

/** `p`, or a transient error once `ms` passed (`p` is left to settle unobserved). */
function withinBudget<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(transient(`send not acknowledged within ${Math.round(ms / 1000)} s; retrying`)),
      ms,
    );
  });
  p.catch(() => undefined);
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
