import type { BackendHost, BackendOptions } from './backendOptions';
import type { InboxMessage } from './engineState';
import { parseJson } from './history';
import { inboxKey, type ActivityRow } from './hubRows';
import type { HubStore } from './store';
import type { WorkTracker } from './workTracker';

class ActivityTimeout extends Error {}

/** Reads an activity work item row (`a|<executionId>|<taskId>`). */
export async function activityFromRow(
  store: HubStore,
  row: Record<string, unknown>,
): Promise<ActivityRow> {
  const [, executionId, taskId] = String(row.rowKey).split('|');
  return {
    instanceId: String(row.partitionKey),
    rowKey: String(row.rowKey),
    executionId: executionId!,
    taskId: Number(taskId),
    name: String(row.N),
    input: (await store.unpack(row.D)) ?? undefined,
    ep: Number(row.Ep ?? 0),
  };
}

/** Runs activity work items with bounded concurrency and a timeout, recording each result once. */
export class ActivityRunner {
  private readonly queue: ActivityRow[] = [];
  private readonly keys = new Set<string>();
  private running = 0;

  constructor(
    private readonly store: HubStore,
    private readonly opts: BackendOptions,
    private readonly host: BackendHost,
    private readonly work: WorkTracker,
    private readonly orchestrations: {
      schedule(instanceId: string): void;
      isTerminal(instanceId: string): boolean;
    },
  ) {}

  get busy(): boolean {
    return this.queue.length > 0 || this.running > 0;
  }

  enqueue(a: ActivityRow): void {
    const key = `${a.instanceId}\u0000${a.rowKey}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.queue.push(a);
    this.pump();
  }

  /** Removes the work items of a terminated execution. */
  async cancel(instanceId: string, executionId: string): Promise<void> {
    const rows = await this.store.listByRowKeyRange(`a|${executionId}|`, `a|${executionId}|~`);
    for (const r of rows.filter((x) => x.partitionKey === instanceId)) {
      await this.store.deleteIfPresent(instanceId, String(r.rowKey));
    }
  }

  private pump(): void {
    while (
      !this.work.stopped &&
      this.running < this.opts.maxConcurrentActivities &&
      this.queue.length
    ) {
      const a = this.queue.shift()!;
      this.running++;
      // If the result could not be recorded the work item still exists: it runs again later.
      this.work.runWithRetry(
        this.run(a),
        () => this.enqueue(a),
        () => {
          this.running--;
          this.keys.delete(`${a.instanceId}\u0000${a.rowKey}`);
          this.pump();
        },
      );
    }
  }

  private async run(a: ActivityRow): Promise<void> {
    if (this.orchestrations.isTerminal(a.instanceId)) {
      await this.store.deleteIfPresent(a.instanceId, a.rowKey);
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
    this.orchestrations.schedule(a.instanceId);
  }
}
