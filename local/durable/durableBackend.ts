import type { TableEntity, TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import {
  applyResult,
  newEngineState,
  parseOrchestratorFailure,
  prepareEpisode,
  type Applied,
  type InboxMessage,
  type Prepared,
  type WorkItem,
} from './engine';
import {
  EventType,
  UPPER_SCHEMA_VERSION,
  parseJson,
  type HistoryEvent,
  type OrchestratorStateWire,
} from './history';
import {
  HubStore,
  TERMINAL,
  activityRowKey,
  inboxKey,
  pad,
  type ActivityRow,
  type InstanceRow,
  type OutboxMessage,
} from './store';

export interface BackendOptions {
  connectionString: string;
  hubName: string;
  maxConcurrentOrchestrations: number;
  maxConcurrentActivities: number;
  activityTimeoutMs: number;
  /** Messages consumed per episode (bounded so the committing transaction stays ≤ 100 actions). */
  maxMessagesPerEpisode?: number;
}

export interface BackendHost {
  invoke(name: string, triggerValue: unknown): Promise<unknown>;
  orchestratorName(name: string): string | undefined;
  activityName(name: string): string | undefined;
  log: {
    info(m: string, f?: Record<string, unknown>): void;
    warn(m: string, f?: Record<string, unknown>): void;
    error(m: string, f?: Record<string, unknown>): void;
  };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface HistoryCache {
  executionId: string;
  ep: number;
  events: HistoryEvent[];
}

/**
 * The durable task backend: dispatches orchestration episodes and activities with bounded
 * concurrency, fires timers, delivers cross-instance messages, and answers the management API.
 * Every state change is one table transaction (see store.ts); the in-memory queues are only
 * a fast path rebuilt from storage by `recover()` after a restart.
 */
export class DurableBackend {
  readonly store: HubStore;
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly runningOrch = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly activityQueue: ActivityRow[] = [];
  private readonly activityKeys = new Set<string>();
  private runningActivities = 0;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly history = new Map<string, HistoryCache>();
  private readonly terminalCache = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly opts: BackendOptions,
    readonly host: BackendHost,
  ) {
    this.store = new HubStore(opts.connectionString, opts.hubName);
  }

  async start(): Promise<void> {
    await this.store.init();
    await this.recover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  // ---------------------------------------------------------------- recovery

  /** Rebuilds the in-memory queues from storage: running instances, activity work items, outbox rows. */
  async recover(): Promise<void> {
    const instances = await this.store.listInstances();
    const byId = new Map(instances.map((i) => [i.instanceId, i]));
    for (const row of await this.store.listByRowKeyRange('a|', 'a}')) {
      const inst = byId.get(String(row.partitionKey));
      const ep = Number(row.Ep ?? 0);
      if (!inst || ep > inst.ep || TERMINAL.has(inst.status)) {
        await this.deleteRow(String(row.partitionKey), String(row.rowKey));
        continue;
      }
      this.enqueueActivity(await this.toActivity(row));
    }
    for (const row of await this.store.listByRowKeyRange('o|', 'o}')) {
      const inst = byId.get(String(row.partitionKey));
      if (!inst || Number(row.Ep ?? 0) > inst.ep) {
        await this.deleteRow(String(row.partitionKey), String(row.rowKey));
        continue;
      }
      const msg = JSON.parse((await this.store.unpack(row.D)) ?? 'null') as OutboxMessage;
      this.deliverWithRetry(String(row.partitionKey), String(row.rowKey), msg);
    }
    for (const inst of instances) {
      if (TERMINAL.has(inst.status)) this.terminalCache.add(inst.instanceId);
      else this.schedule(inst.instanceId);
    }
  }

  /** Deletes a row that may already be gone (work items and outbox rows are deleted idempotently). */
  private async deleteRow(partitionKey: string, rowKey: string): Promise<void> {
    await this.store.table.deleteEntity(partitionKey, rowKey).catch(() => undefined);
  }

  private async toActivity(row: Record<string, unknown>): Promise<ActivityRow> {
    const [, executionId, taskId] = String(row.rowKey).split('|');
    return {
      instanceId: String(row.partitionKey),
      rowKey: String(row.rowKey),
      executionId: executionId!,
      taskId: Number(taskId),
      name: String(row.N),
      input: (await this.store.unpack(row.D)) ?? undefined,
      ep: Number(row.Ep ?? 0),
    };
  }

  private track<T>(p: Promise<T>): void {
    this.inFlight.add(p);
    p.catch((e: unknown) =>
      this.host.log.error(`durable: ${(e as Error)?.stack ?? String(e)}`),
    ).finally(() => {
      this.inFlight.delete(p);
      this.checkIdle();
    });
  }

  // ---------------------------------------------------------------- orchestrations

  schedule(instanceId: string): void {
    if (this.stopped) return;
    if (this.runningOrch.has(instanceId)) {
      this.dirty.add(instanceId);
      return;
    }
    if (this.queued.has(instanceId)) return;
    this.queued.add(instanceId);
    this.ready.push(instanceId);
    this.pumpOrchestrations();
  }

  private pumpOrchestrations(): void {
    while (
      !this.stopped &&
      this.runningOrch.size < this.opts.maxConcurrentOrchestrations &&
      this.ready.length
    ) {
      const id = this.ready.shift()!;
      this.queued.delete(id);
      if (this.runningOrch.has(id)) {
        this.dirty.add(id);
        continue;
      }
      this.runningOrch.add(id);
      // On a storage hiccup nothing was committed: the episode is tried again shortly.
      this.runWithRetry(
        this.runEpisodes(id),
        () => this.schedule(id),
        () => {
          this.runningOrch.delete(id);
          if (this.dirty.delete(id)) this.schedule(id);
          this.pumpOrchestrations();
        },
      );
    }
  }

  /** Runs episodes for an instance until its inbox has nothing visible left. */
  private async runEpisodes(instanceId: string): Promise<void> {
    for (let i = 0; i < 1000 && !this.stopped; i++) {
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
      this.terminalCache.add(instanceId);
      return this.dropInbox(instanceId, inbox);
    }
    this.terminalCache.delete(instanceId);
    const orphans = inbox.filter((m) => m.ep > instance.ep);
    if (orphans.length) {
      await this.dropInbox(instanceId, orphans);
      return true;
    }
    const canceled = new Set(instance.state.canceledTimers ?? []);
    const visible = [];
    for (const m of inbox) {
      if (m.visibleAt > now.getTime()) {
        if (
          m.msg.kind === 'timerFired' &&
          m.msg.executionId === instance.executionId &&
          canceled.has(m.msg.timerId)
        ) {
          visible.push(m); // a canceled timer: consume it now rather than wait
        } else this.armTimer(instanceId, m.rowKey, m.visibleAt);
        continue;
      }
      visible.push(m);
    }
    if (!visible.length) return false;
    const batch = visible.slice(0, this.opts.maxMessagesPerEpisode ?? 50);
    const messages = batch
      .map((m) => m.msg)
      .filter(
        (m) =>
          !(
            m.kind === 'timerFired' &&
            m.executionId === instance.executionId &&
            canceled.has(m.timerId)
          ),
      );

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
    if (prepared.runSdk) applied = await this.runOrchestrator(instance, history, prepared, now);
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

  private async runOrchestrator(
    instance: InstanceRow,
    history: HistoryEvent[],
    prepared: Prepared,
    now: Date,
  ): Promise<Applied> {
    const ctx = { instanceId: instance.instanceId, name: instance.name, now };
    const fn = this.host.orchestratorName(instance.name);
    if (!fn) {
      return applyResult(
        ctx,
        prepared,
        undefined,
        `The function '${instance.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    }
    const started = [...history, ...prepared.newEvents].find(
      (e) => e.EventType === EventType.ExecutionStarted,
    );
    const input = started ? parseJson(started.Input as string | null) : parseJson(instance.input);
    const fullHistory = [
      ...history.map((e) => ({ ...e, IsPlayed: true })),
      ...prepared.newEvents.map((e) => ({ ...e, IsPlayed: false })),
    ];
    const triggerValue = {
      history: JSON.parse(JSON.stringify(fullHistory)) as unknown,
      input,
      instanceId: instance.instanceId,
      isReplaying: history.length > 0,
      parentInstanceId: instance.parent?.instanceId,
      upperSchemaVersion: UPPER_SCHEMA_VERSION,
      upperSchemaVersionNew: UPPER_SCHEMA_VERSION,
      // Timers are never split into long-timer intervals by this backend.
      maximumShortTimerDuration: 'P3650D',
      longRunningTimerIntervalDuration: 'P3D',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
    };
    try {
      const reply = (await this.host.invoke(fn, triggerValue)) as OrchestratorStateWire;
      return applyResult(ctx, prepared, reply);
    } catch (e) {
      const parsed = parseOrchestratorFailure(String((e as Error)?.message ?? e));
      // The SDK's OrchestrationFailureError carries the user's error in the state's `error`.
      return applyResult(ctx, prepared, parsed.state, parsed.state?.error ?? parsed.message);
    }
  }

  private async commitEpisode(
    instance: InstanceRow,
    history: HistoryEvent[],
    prepared: Prepared,
    applied: Applied | undefined,
    consumed: string[],
    now: Date,
  ): Promise<void> {
    const id = instance.instanceId;
    const ep = instance.ep + 1;
    const pre: TransactionAction[] = [];
    const fin: TransactionAction[] = [];
    const newEvents = [...prepared.newEvents, ...(applied?.events ?? [])];
    if (prepared.terminated !== undefined) {
      newEvents.push({
        EventType: EventType.OrchestratorCompleted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now.toISOString(),
      });
    }
    const next: InstanceRow = {
      ...instance,
      ep,
      state: applied?.state ?? prepared.state,
      lastUpdatedTime: now.toISOString(),
    };
    if (newEvents.length) {
      pre.push([
        'upsert',
        {
          partitionKey: id,
          rowKey: `h|${instance.executionId}|${pad(ep)}`,
          D: await this.store.pack(id, JSON.stringify(newEvents)),
        },
        'Replace',
      ]);
    }
    const outbox: { rowKey: string; msg: OutboxMessage }[] = [];
    const activities: ActivityRow[] = [];
    const timers: { rowKey: string; at: number }[] = [];
    const addWork = async (w: WorkItem): Promise<void> => {
      if (w.kind === 'activity') {
        const rowKey = activityRowKey(instance.executionId, w.taskId);
        pre.push([
          'upsert',
          {
            partitionKey: id,
            rowKey,
            N: w.name,
            D: await this.store.pack(id, w.input ?? null),
            Ep: ep,
          },
          'Replace',
        ]);
        activities.push({
          instanceId: id,
          rowKey,
          executionId: instance.executionId,
          taskId: w.taskId,
          name: w.name,
          input: w.input,
          ep,
        });
      } else if (w.kind === 'timer') {
        const at = new Date(w.fireAt).getTime();
        const rowKey = inboxKey(at, `t${instance.executionId}.${w.timerId}`);
        const msg: InboxMessage = {
          kind: 'timerFired',
          executionId: instance.executionId,
          timerId: w.timerId,
          fireAt: w.fireAt,
        };
        pre.push(['upsert', await this.store.inboxEntity(id, rowKey, msg, at, ep), 'Replace']);
        timers.push({ rowKey, at });
      } else {
        const msg: OutboxMessage = {
          kind: 'startSub',
          instanceId: w.instanceId,
          name: w.name,
          input: w.input,
          parent: { instanceId: id, executionId: instance.executionId, taskId: w.taskId },
        };
        const rowKey = `o|${instance.executionId}|s${pad(w.taskId, 8)}`;
        pre.push([
          'upsert',
          { partitionKey: id, rowKey, D: await this.store.pack(id, JSON.stringify(msg)), Ep: ep },
          'Replace',
        ]);
        outbox.push({ rowKey, msg });
      }
    };
    for (const w of applied?.work ?? prepared.work) await addWork(w);

    if (prepared.started) {
      next.status = 'Running';
    }
    if (applied?.customStatus !== undefined)
      next.customStatus = JSON.stringify(applied.customStatus);
    let toParent: InboxMessage | undefined;
    const outcome = prepared.terminated !== undefined ? 'terminated' : applied?.outcome.kind;
    if (prepared.terminated !== undefined) {
      next.status = 'Terminated';
      next.output = JSON.stringify(prepared.terminated);
      if (instance.parent)
        toParent = {
          kind: 'subFailed',
          executionId: instance.parent.executionId,
          taskId: instance.parent.taskId,
          reason: `Sub-orchestration '${id}' was terminated: ${prepared.terminated}`,
          details: '',
        };
    } else if (applied?.outcome.kind === 'completed') {
      next.status = 'Completed';
      next.output = applied.outcome.output;
      if (instance.parent)
        toParent = {
          kind: 'subCompleted',
          executionId: instance.parent.executionId,
          taskId: instance.parent.taskId,
          result: applied.outcome.output,
        };
    } else if (applied?.outcome.kind === 'failed') {
      next.status = 'Failed';
      next.output = JSON.stringify(applied.outcome.output);
      if (instance.parent)
        toParent = {
          kind: 'subFailed',
          executionId: instance.parent.executionId,
          taskId: instance.parent.taskId,
          reason: applied.outcome.reason,
          details: applied.outcome.details,
        };
    } else if (applied?.outcome.kind === 'continueAsNew') {
      const executionId = randomUUID().replace(/-/g, '');
      next.executionId = executionId;
      next.input = applied.outcome.input ?? null;
      next.output = null;
      next.state = newEngineState();
      next.status = 'Running';
      const msg: InboxMessage = {
        kind: 'start',
        executionId,
        name: instance.name,
        input: applied.outcome.input,
        parent: instance.parent ?? undefined,
      };
      pre.push([
        'upsert',
        await this.store.inboxEntity(id, inboxKey(now.getTime(), `s${executionId}`), msg, 0, ep),
        'Replace',
      ]);
    }
    if (toParent && instance.parent) {
      const msg: OutboxMessage = {
        kind: 'toParent',
        parentInstanceId: instance.parent.instanceId,
        msg: toParent,
      };
      const rowKey = `o|${instance.executionId}|done`;
      pre.push([
        'upsert',
        { partitionKey: id, rowKey, D: await this.store.pack(id, JSON.stringify(msg)), Ep: ep },
        'Replace',
      ]);
      outbox.push({ rowKey, msg });
    }

    const entity: TableEntity = await this.store.instanceEntity(next);
    fin.push(['update', entity, 'Replace', { etag: instance.etag }]);
    for (const rk of consumed) fin.push(['delete', { partitionKey: id, rowKey: rk }]);
    if (pre.length + fin.length <= 100) await this.store.submit([...pre, ...fin]);
    else {
      await this.store.submit(pre);
      await this.store.submit(fin);
    }

    // Committed: update the cache and start the work.
    if (outcome === 'continueAsNew') this.history.delete(id);
    else
      this.history.set(id, {
        executionId: instance.executionId,
        ep,
        events: [...history, ...newEvents.map((e) => ({ ...e, IsPlayed: true }))],
      });
    if (TERMINAL.has(next.status)) {
      this.terminalCache.add(id);
      this.history.delete(id);
      if (outcome === 'terminated') this.track(this.cancelActivities(id, instance.executionId));
    }
    for (const a of activities) this.enqueueActivity(a);
    for (const t of timers) this.armTimer(id, t.rowKey, t.at);
    for (const o of outbox) this.deliverWithRetry(id, o.rowKey, o.msg);
    if (outcome === 'continueAsNew') this.dirty.add(id);
  }

  private async cancelActivities(instanceId: string, executionId: string): Promise<void> {
    const rows = await this.store.listByRowKeyRange(`a|${executionId}|`, `a|${executionId}|~`);
    for (const r of rows.filter((x) => x.partitionKey === instanceId)) {
      await this.deleteRow(instanceId, String(r.rowKey));
    }
  }

  private armTimer(instanceId: string, rowKey: string, at: number): void {
    const key = `${instanceId}\u0000${rowKey}`;
    if (this.timers.has(key) || this.stopped) return;
    const delay = Math.min(Math.max(0, at - Date.now()) + 2, 2_147_000_000);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.schedule(instanceId);
    }, delay);
    t.unref?.();
    this.timers.set(key, t);
  }

  /** Tracks `work`; if it fails, `retry` runs a little later (the failure is still logged). */
  private runWithRetry(work: Promise<void>, retry: () => void, settled?: () => void): void {
    const run = work.catch((e: unknown) => {
      this.later(retry);
      throw e;
    });
    this.track(settled ? run.finally(settled) : run);
  }

  private later(fn: () => void, ms = 1000): void {
    if (this.stopped) return;
    const t = setTimeout(fn, ms);
    t.unref?.();
  }

  private deliverWithRetry(from: string, rowKey: string, msg: OutboxMessage): void {
    this.runWithRetry(this.deliver(from, rowKey, msg), () =>
      this.deliverWithRetry(from, rowKey, msg),
    );
  }

  /** Delivers an outbox message (idempotent: a redelivery after a crash changes nothing), then deletes it. */
  private async deliver(fromInstance: string, rowKey: string, msg: OutboxMessage): Promise<void> {
    if (msg.kind === 'startSub') {
      const existing = await this.store.getInstance(msg.instanceId);
      const sameParent =
        existing?.parent &&
        existing.parent.instanceId === msg.parent.instanceId &&
        existing.parent.executionId === msg.parent.executionId &&
        existing.parent.taskId === msg.parent.taskId;
      if (!sameParent) {
        if (existing && !TERMINAL.has(existing.status)) {
          await this.store.table
            .createEntity(
              await this.store.inboxEntity(
                fromInstance,
                inboxKey(Date.now(), `x${msg.parent.executionId}.${msg.parent.taskId}`),
                {
                  kind: 'subFailed',
                  executionId: msg.parent.executionId,
                  taskId: msg.parent.taskId,
                  reason: `An orchestration instance with ID '${msg.instanceId}' is already running.`,
                  details: '',
                },
              ),
            )
            .catch(ignoreConflict);
          this.schedule(fromInstance);
        } else {
          await this.createInstance(msg.instanceId, msg.name, msg.input, msg.parent, existing);
        }
      } else this.schedule(msg.instanceId);
    } else {
      const parent = msg.parentInstanceId;
      const tag = `c${fromInstance}.${'taskId' in msg.msg ? msg.msg.taskId : ''}`.replace(
        /[^\w.:-]/g,
        '_',
      );
      await this.store.table
        .createEntity(await this.store.inboxEntity(parent, inboxKey(Date.now(), tag), msg.msg))
        .catch(ignoreConflict);
      this.schedule(parent);
    }
    await this.deleteRow(fromInstance, rowKey);
  }

  private async createInstance(
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
    this.terminalCache.delete(instanceId);
    this.schedule(instanceId);
  }

  // ---------------------------------------------------------------- activities

  private enqueueActivity(a: ActivityRow): void {
    const key = `${a.instanceId}\u0000${a.rowKey}`;
    if (this.activityKeys.has(key)) return;
    this.activityKeys.add(key);
    this.activityQueue.push(a);
    this.pumpActivities();
  }

  private pumpActivities(): void {
    while (
      !this.stopped &&
      this.runningActivities < this.opts.maxConcurrentActivities &&
      this.activityQueue.length
    ) {
      const a = this.activityQueue.shift()!;
      this.runningActivities++;
      // If the result could not be recorded the work item still exists: it runs again later.
      this.runWithRetry(
        this.runActivity(a),
        () => this.enqueueActivity(a),
        () => {
          this.runningActivities--;
          this.activityKeys.delete(`${a.instanceId}\u0000${a.rowKey}`);
          this.pumpActivities();
        },
      );
    }
  }

  private async runActivity(a: ActivityRow): Promise<void> {
    if (this.terminalCache.has(a.instanceId)) {
      await this.deleteRow(a.instanceId, a.rowKey);
      return;
    }
    let msg: InboxMessage;
    const fn = this.host.activityName(a.name);
    if (!fn) {
      msg = {
        kind: 'taskFailed',
        executionId: a.executionId,
        taskId: a.taskId,
        reason: `The function '${a.name}' doesn't exist, is disabled, or is not an activity function.`,
        details: '',
      };
    } else {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new ActivityTimeout(
                  `Activity function '${a.name}' timed out after ${this.opts.activityTimeoutMs} ms.`,
                ),
              ),
            this.opts.activityTimeoutMs,
          );
        });
        const result = await Promise.race([
          this.host.invoke(fn, parseJson(a.input ?? null)),
          timeout,
        ]);
        msg = {
          kind: 'taskCompleted',
          executionId: a.executionId,
          taskId: a.taskId,
          result: result === undefined ? null : JSON.stringify(result),
        };
      } catch (e) {
        const err = e as Error;
        msg = {
          kind: 'taskFailed',
          executionId: a.executionId,
          taskId: a.taskId,
          reason:
            e instanceof ActivityTimeout
              ? err.message
              : `Activity function '${a.name}' failed: ${err?.message ?? String(e)}`,
          details: e instanceof ActivityTimeout ? 'TimeoutException' : (err?.name ?? 'Error'),
        };
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
    // Recorded even while the host stops gracefully (stop waits for it): fewer re-runs after restart.
    // The result and the removal of the work item commit together: after this, the activity never runs again.
    try {
      await this.store.submit([
        ['delete', { partitionKey: a.instanceId, rowKey: a.rowKey }],
        [
          'create',
          await this.store.inboxEntity(
            a.instanceId,
            inboxKey(Date.now(), `r${a.executionId}.${a.taskId}`),
            msg,
          ),
        ],
      ]);
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404 || status === 409) return; // work item gone (terminated, purged) or already recorded
      throw e;
    }
    this.schedule(a.instanceId);
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
    await this.createInstance(id, fn, inputJson, null, existing);
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
    this.schedule(instanceId);
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
    this.schedule(instanceId);
  }

  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    return this.store.getInstance(instanceId);
  }

  async getHistory(inst: InstanceRow): Promise<HistoryEvent[]> {
    return this.store.readHistory(inst.instanceId, inst.executionId, inst.ep);
  }

  async purge(instanceId: string): Promise<number> {
    this.history.delete(instanceId);
    return this.store.purge(instanceId);
  }

  // ---------------------------------------------------------------- test/bench support

  /** Resolves when no orchestration, activity or delivery is running or queued (timers may be pending). */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (
      this.ready.length ||
      this.runningOrch.size ||
      this.activityQueue.length ||
      this.runningActivities ||
      this.inFlight.size
    )
      return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

class ActivityTimeout extends Error {}

function ignoreConflict(e: { statusCode?: number }): void {
  if (e.statusCode !== 409) throw e;
}
