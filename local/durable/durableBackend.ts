import { randomUUID } from 'node:crypto';
import { ActivityRunner, activityFromRow } from './activityRunner';
import type { BackendHost, BackendOptions } from './backendOptions';
import type { InboxMessage } from './engineState';
import type { HistoryEvent } from './history';
import { HttpError } from './httpError';
import { OrchestrationRunner } from './orchestrationRunner';
import { OutboxDelivery } from './outboxDelivery';
import { TERMINAL, inboxKey, type InstanceRow, type OutboxMessage } from './hubRows';
import { HubStore } from './store';
import { WorkTracker } from './workTracker';

export type { BackendHost, BackendOptions } from './backendOptions';
export { HttpError } from './httpError';

/**
 * The durable task backend: dispatches orchestration episodes and activities with bounded
 * concurrency, fires timers, delivers cross-instance messages, and answers the management API.
 * Every state change is one table transaction (see store.ts); the in-memory queues are only
 * a fast path rebuilt from storage by `recover()` after a restart.
 */
export class DurableBackend {
  readonly store: HubStore;
  private readonly work: WorkTracker;
  private readonly orchestrations: OrchestrationRunner;
  private readonly activities: ActivityRunner;
  private readonly outbox: OutboxDelivery;

  constructor(
    readonly opts: BackendOptions,
    readonly host: BackendHost,
  ) {
    this.store = new HubStore(opts.connectionString, opts.hubName);
    this.work = new WorkTracker(host.log, () => this.orchestrations.busy || this.activities.busy);
    this.orchestrations = new OrchestrationRunner(this.store, opts, host, this.work, {
      enqueueActivity: (a) => this.activities.enqueue(a),
      cancelActivities: (instanceId, executionId) =>
        this.activities.cancel(instanceId, executionId),
      deliver: (from, rowKey, msg) => this.outbox.deliverWithRetry(from, rowKey, msg),
    });
    this.activities = new ActivityRunner(this.store, opts, host, this.work, this.orchestrations);
    this.outbox = new OutboxDelivery(this.store, this.work, this.orchestrations);
  }

  async start(): Promise<void> {
    await this.store.init();
    await this.recover();
  }

  async stop(): Promise<void> {
    this.work.stopped = true;
    this.orchestrations.clearTimers();
    await this.work.settled();
  }

  /** Rebuilds the in-memory queues from storage: running instances, activity work items, outbox rows. */
  async recover(): Promise<void> {
    const instances = await this.store.listInstances();
    const byId = new Map(instances.map((i) => [i.instanceId, i]));
    for (const row of await this.store.listByRowKeyRange('a|', 'a}')) {
      const inst = byId.get(String(row.partitionKey));
      const ep = Number(row.Ep ?? 0);
      if (!inst || ep > inst.ep || TERMINAL.has(inst.status)) {
        await this.store.deleteIfPresent(String(row.partitionKey), String(row.rowKey));
        continue;
      }
      this.activities.enqueue(await activityFromRow(this.store, row));
    }
    for (const row of await this.store.listByRowKeyRange('o|', 'o}')) {
      const inst = byId.get(String(row.partitionKey));
      if (!inst || Number(row.Ep ?? 0) > inst.ep) {
        await this.store.deleteIfPresent(String(row.partitionKey), String(row.rowKey));
        continue;
      }
      const msg = JSON.parse((await this.store.unpack(row.D)) ?? 'null') as OutboxMessage;
      this.outbox.deliverWithRetry(String(row.partitionKey), String(row.rowKey), msg);
    }
    for (const inst of instances) {
      if (TERMINAL.has(inst.status)) this.orchestrations.markTerminal(inst.instanceId);
      else this.orchestrations.schedule(inst.instanceId);
    }
  }

  schedule(instanceId: string): void {
    this.orchestrations.schedule(instanceId);
  }

  // ---------------------------------------------------------------- management API

  functionExists(name: string): string | undefined {
    return this.host.orchestratorName(name);
  }

  async startNew(
    name: string,
    instanceId: string | undefined,
    inputJson: string | undefined,
  ): Promise<string> {
    const fn = this.host.orchestratorName(name);
    if (!fn)
      throw new HttpError(
        400,
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const id = instanceId || randomUUID().replace(/-/g, '');
    // Azure Storage forbids these characters in instance ids (they end up in keys and URLs).
    const bad = [...id].some(
      (c) => '/\\#?'.includes(c) || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f,
    );
    if (!id.length || id.length > 100 || bad)
      throw new HttpError(400, `Invalid instance id '${id}'.`);
    const existing = await this.store.getInstance(id);
    if (existing && !TERMINAL.has(existing.status)) {
      throw new HttpError(
        409,
        `An orchestration instance with the ID '${id}' and status '${existing.status}' already exists.`,
      );
    }
    await this.orchestrations.createInstance(id, fn, inputJson, null, existing);
    return id;
  }

  async raiseEvent(
    instanceId: string,
    eventName: string,
    inputJson: string | undefined,
  ): Promise<void> {
    const inst = await this.store.getInstance(instanceId);
    if (!inst) throw new HttpError(404, `No instance with ID '${instanceId}' found.`);
    if (TERMINAL.has(inst.status))
      throw new HttpError(
        410,
        `The instance '${instanceId}' is ${inst.status}; it takes no events.`,
      );
    const msg: InboxMessage = { kind: 'event', name: eventName, input: inputJson };
    await this.store.table.createEntity(
      await this.store.inboxEntity(instanceId, inboxKey(Date.now()), msg),
    );
    this.orchestrations.schedule(instanceId);
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    const inst = await this.store.getInstance(instanceId);
    if (!inst) throw new HttpError(404, `No instance with ID '${instanceId}' found.`);
    if (TERMINAL.has(inst.status))
      throw new HttpError(410, `The instance '${instanceId}' is already ${inst.status}.`);
    const msg: InboxMessage = { kind: 'terminate', reason };
    await this.store.table.createEntity(
      await this.store.inboxEntity(instanceId, inboxKey(Date.now()), msg),
    );
    this.orchestrations.schedule(instanceId);
  }

  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    return this.store.getInstance(instanceId);
  }

  async getHistory(inst: InstanceRow): Promise<HistoryEvent[]> {
    return this.store.readHistory(inst.instanceId, inst.executionId, inst.ep);
  }

  async purge(instanceId: string): Promise<number> {
    this.orchestrations.forgetHistory(instanceId);
    return this.store.purge(instanceId);
  }

  // ---------------------------------------------------------------- test/bench support

  /** Resolves when no orchestration, activity or delivery is running or queued (timers may be pending). */
  whenIdle(): Promise<void> {
    return this.work.whenIdle();
  }
}
