import { TERMINAL, inboxKey, type InstanceRow, type OutboxMessage } from './hubRows';
import type { HubStore } from './store';
import type { WorkTracker } from './workTracker';

function ignoreConflict(e: { statusCode?: number }): void {
  if (e.statusCode !== 409) throw e;
}

/** Delivers cross-instance messages (sub-orchestration starts, results to parents) from outbox rows. */
export class OutboxDelivery {
  constructor(
    private readonly store: HubStore,
    private readonly work: WorkTracker,
    private readonly orchestrations: {
      schedule(instanceId: string): void;
      createInstance(
        instanceId: string,
        name: string,
        input: string | undefined,
        parent: InstanceRow['parent'],
        existing: InstanceRow | undefined,
      ): Promise<void>;
    },
  ) {}

  deliverWithRetry(from: string, rowKey: string, msg: OutboxMessage): void {
    this.work.runWithRetry(this.deliver(from, rowKey, msg), () =>
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
          this.orchestrations.schedule(fromInstance);
        } else {
          await this.orchestrations.createInstance(
            msg.instanceId,
            msg.name,
            msg.input,
            msg.parent,
            existing,
          );
        }
      } else this.orchestrations.schedule(msg.instanceId);
    } else {
      const parent = msg.parentInstanceId;
      const tag = `c${fromInstance}.${'taskId' in msg.msg ? msg.msg.taskId : ''}`.replace(
        /[^\w.:-]/g,
        '_',
      );
      await this.store.table
        .createEntity(await this.store.inboxEntity(parent, inboxKey(Date.now(), tag), msg.msg))
        .catch(ignoreConflict);
      this.orchestrations.schedule(parent);
    }
    await this.store.deleteIfPresent(fromInstance, rowKey);
  }
}
