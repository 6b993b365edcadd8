import { randomUUID } from 'node:crypto';
import type { BackendHost, BackendOptions } from './backendOptions';
import type { Applied } from './applyResult';
import { newEngineState, type InboxMessage, type Prepared } from './engineState';
import { prepareEpisode } from './prepareEpisode';
import { planEpisodeCommit } from './episodeCommit';
import type { HistoryEvent } from './history';
import { triageInbox } from './inboxTriage';
import { invokeOrchestrator } from './invokeOrchestrator';
import {
  TERMINAL,
  inboxKey,
  type ActivityRow,
  type InstanceRow,
  type OutboxMessage,
} from './hubRows';
import type { HubStore } from './store';
import type { WorkTracker } from './workTracker';

interface HistoryCache {
  executionId: string;
  ep: number;
  events: HistoryEvent[];
}

/** Where a committed episode's work goes. */
export interface EpisodeWork {
  enqueueActivity(a: ActivityRow): void;
  cancelActivities(instanceId: string, executionId: string): Promise<void>;
  deliver(fromInstance: string, rowKey: string, msg: OutboxMessage): void;
}

/**
 * Runs orchestration episodes with bounded concurrency, one at a time per instance: reads the
 * inbox, replays the orchestrator, commits the result, then starts the work it scheduled.
 */
export class OrchestrationRunner {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly history = new Map<string, HistoryCache>();
  private readonly terminal = new Set<string>();

  constructor(
    private readonly store: HubStore,
    private readonly opts: BackendOptions,
    private readonly host: BackendHost,
    private readonly work: WorkTracker,
    private readonly sinks: EpisodeWork,
  ) {}

  get busy(): boolean {
    return this.ready.length > 0 || this.running.size > 0;
  }

  isTerminal(instanceId: string): boolean {
    return this.terminal.has(instanceId);
  }

  markTerminal(instanceId: string): void {
    this.terminal.add(instanceId);
  }

  forgetHistory(instanceId: string): void {
    this.history.delete(instanceId);
  }

  clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  schedule(instanceId: string): void {
    if (this.work.stopped) return;
    if (this.running.has(instanceId)) {
      this.dirty.add(instanceId);
      return;
    }
    if (this.queued.has(instanceId)) return;
    this.queued.add(instanceId);
    this.ready.push(instanceId);
    this.pump();
  }

  private pump(): void {
    while (
      !this.work.stopped &&
      this.running.size < this.opts.maxConcurrentOrchestrations &&
      this.ready.length
    ) {
      const id = this.ready.shift()!;
      this.queued.delete(id);
      if (this.running.has(id)) {
        this.dirty.add(id);
        continue;
      }
      this.running.add(id);
      // On a storage hiccup nothing was committed: the episode is tried again shortly.
      this.work.runWithRetry(
        this.runEpisodes(id),
        () => this.schedule(id),
        () => {
          this.running.delete(id);
          if (this.dirty.delete(id)) this.schedule(id);
          this.pump();
        },
      );
    }
  }

  /** Runs episodes for an instance until its inbox has nothing visible left. */
  private async runEpisodes(instanceId: string): Promise<void> {
    for (let i = 0; i < 1000 && !this.work.stopped; i++) {
      this.dirty.delete(instanceId);
      let more: boolean;
      try {
        more = await this.runEpisode(instanceId);
      } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status === 412 || status === 409 || status === 404) {
          this.history.delete(instanceId);
          continue; // lost a race with a management call; re-read and retry
        }
        throw e;
      }
      if (!more && !this.dirty.has(instanceId)) return;
    }
  }

  private async runEpisode(instanceId: string): Promise<boolean> {
    const { instance, inbox } = await this.store.readPartitionHead(instanceId);
    const now = new Date();
    if (!instance) return this.dropInbox(instanceId, inbox);
    if (TERMINAL.has(instance.status)) {
      this.terminal.add(instanceId);
      return this.dropInbox(instanceId, inbox);
    }
    this.terminal.delete(instanceId);
    const orphans = inbox.filter((m) => m.ep > instance.ep);
    if (orphans.length) {
      await this.dropInbox(instanceId, orphans);
      return true;
    }
    const { visible, batch, messages, later } = triageInbox(
      inbox,
      instance,
      now.getTime(),
      this.opts.maxMessagesPerEpisode ?? 50,
    );
    for (const m of later) this.armTimer(instanceId, m.rowKey, m.visibleAt);
    if (!visible.length) return false;

    const history = await this.loadHistory(instance);
    const prepared = prepareEpisode({
      instanceId,
      executionId: instance.executionId,
      name: instance.name,
      state: instance.state,
      history,
      messages,
      now,
    });
    let applied: Applied | undefined;
    if (prepared.runSdk)
      applied = await invokeOrchestrator(this.host, instance, history, prepared, now);
    await this.commitEpisode(
      instance,
      history,
      prepared,
      applied,
      batch.map((m) => m.rowKey),
      now,
    );
    return visible.length > batch.length;
  }

  private async commitEpisode(
    instance: InstanceRow,
    history: HistoryEvent[],
    prepared: Prepared,
    applied: Applied | undefined,
    consumed: string[],
    now: Date,
  ): Promise<void> {
    const commit = await planEpisodeCommit(this.store, instance, prepared, applied, consumed, now);
    const { pre, fin, next, newEvents, outcome } = commit;
    if (pre.length + fin.length <= 100) await this.store.submit([...pre, ...fin]);
    else {
      await this.store.submit(pre);
      await this.store.submit(fin);
    }

    // Committed: update the cache and start the work.
    const id = instance.instanceId;
    if (outcome === 'continueAsNew') this.history.delete(id);
    else
      this.history.set(id, {
        executionId: instance.executionId,
        ep: next.ep,
        events: [...history, ...newEvents.map((e) => ({ ...e, IsPlayed: true }))],
      });
    if (TERMINAL.has(next.status)) {
      this.terminal.add(id);
      this.history.delete(id);
      if (outcome === 'terminated')
        this.work.track(this.sinks.cancelActivities(id, instance.executionId));
    }
    for (const a of commit.activities) this.sinks.enqueueActivity(a);
    for (const t of commit.timers) this.armTimer(id, t.rowKey, t.at);
    for (const o of commit.outbox) this.sinks.deliver(id, o.rowKey, o.msg);
    if (outcome === 'continueAsNew') this.dirty.add(id);
  }

  /** Deletes inbox rows nobody will consume, at most one transaction's worth; true if more remain. */
  private async dropInbox(instanceId: string, rows: { rowKey: string }[]): Promise<boolean> {
    if (rows.length)
      await this.store.submit(
        rows.slice(0, 100).map((m) => ['delete', { partitionKey: instanceId, rowKey: m.rowKey }]),
      );
    return rows.length > 100;
  }

  private async loadHistory(instance: InstanceRow): Promise<HistoryEvent[]> {
    const c = this.history.get(instance.instanceId);
    if (c && c.executionId === instance.executionId && c.ep === instance.ep) return c.events;
    const events = await this.store.readHistory(
      instance.instanceId,
      instance.executionId,
      instance.ep,
    );
    this.history.set(instance.instanceId, {
      executionId: instance.executionId,
      ep: instance.ep,
      events,
    });
    return events;
  }

  private armTimer(instanceId: string, rowKey: string, at: number): void {
    const key = `${instanceId}\u0000${rowKey}`;
    if (this.timers.has(key) || this.work.stopped) return;
    const delay = Math.min(Math.max(0, at - Date.now()) + 2, 2_147_000_000);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.schedule(instanceId);
    }, delay);
    t.unref?.();
    this.timers.set(key, t);
  }

  /** Creates (or, over a finished one, recreates) an instance with its start message. */
  async createInstance(
    instanceId: string,
    name: string,
    input: string | undefined,
    parent: InstanceRow['parent'],
    existing: InstanceRow | undefined,
  ): Promise<void> {
    const now = new Date().toISOString();
    const executionId = randomUUID().replace(/-/g, '');
    const row: InstanceRow = {
      instanceId,
      name,
      status: 'Pending',
      input: input ?? null,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      executionId,
      parent,
      ep: (existing?.ep ?? 0) + 1,
      state: newEngineState(),
    };
    const start: InboxMessage = {
      kind: 'start',
      executionId,
      name,
      input,
      parent: parent ?? undefined,
    };
    const entity = await this.store.instanceEntity(row);
    await this.store.submit([
      existing ? ['update', entity, 'Replace', { etag: existing.etag }] : ['create', entity],
      [
        'create',
        await this.store.inboxEntity(instanceId, inboxKey(Date.now(), `s${executionId}`), start),
      ],
    ]);
    this.history.delete(instanceId);
    this.terminal.delete(instanceId);
    this.schedule(instanceId);
  }
}
