import type { OrchestrationHandler } from 'durable-functions';
import { DummyOrchestrationContext } from 'durable-functions';
import {
  applyResult,
  parseOrchestratorFailure,
  type Applied,
} from '../../local/durable/applyResult';
import {
  newEngineState,
  type EngineState,
  type InboxMessage,
  type WorkItem,
} from '../../local/durable/engineState';
import { prepareEpisode } from '../../local/durable/prepareEpisode';
import {
  UPPER_SCHEMA_VERSION,
  type HistoryEvent,
  type OrchestratorStateWire,
} from '../../local/durable/history';

// The SDK's own wrapper: the same function `df.app.orchestration` registers as the handler.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator(
    fn: OrchestrationHandler,
  ): (trigger: unknown, ctx: unknown) => Promise<unknown>;
};

/**
 * Replays an orchestrator with the real SDK over synthetic histories, no host and no storage:
 * the test plays the part of activities, timers and event senders. The same engine as the
 * backend builds the histories, so what passes here is what the backend will feed the SDK.
 */
export class Replay {
  history: HistoryEvent[] = [];
  state: EngineState = newEngineState();
  now: Date;
  work: WorkItem[] = [];
  outcome: Applied['outcome'] | { kind: 'terminated' } = { kind: 'running' };
  customStatus: unknown;
  replies: OrchestratorStateWire[] = [];
  private readonly handler: (t: unknown, c: unknown) => Promise<unknown>;

  constructor(
    fn: OrchestrationHandler,
    readonly opts: { instanceId: string; name: string; input: unknown; start?: Date },
  ) {
    this.handler = createOrchestrator(fn);
    this.now = opts.start ?? new Date('2026-01-01T00:00:00Z');
  }

  async start(): Promise<Applied> {
    return this.deliver([
      {
        kind: 'start',
        executionId: 'e1',
        name: this.opts.name,
        input: JSON.stringify(this.opts.input),
      },
    ]);
  }

  advance(ms: number): void {
    this.now = new Date(this.now.getTime() + ms);
  }

  activities(name?: string): Extract<WorkItem, { kind: 'activity' }>[] {
    return this.work.filter(
      (w): w is Extract<WorkItem, { kind: 'activity' }> =>
        w.kind === 'activity' && (!name || w.name === name),
    );
  }

  timers(): Extract<WorkItem, { kind: 'timer' }>[] {
    return this.work.filter((w): w is Extract<WorkItem, { kind: 'timer' }> => w.kind === 'timer');
  }

  complete(taskId: number, result: unknown): InboxMessage {
    this.work = this.work.filter((w) => !(w.kind === 'activity' && w.taskId === taskId));
    return {
      kind: 'taskCompleted',
      executionId: 'e1',
      taskId,
      result: result === undefined ? null : JSON.stringify(result),
    };
  }

  fail(taskId: number, message: string): InboxMessage {
    this.work = this.work.filter((w) => !(w.kind === 'activity' && w.taskId === taskId));
    return { kind: 'taskFailed', executionId: 'e1', taskId, reason: message, details: 'Error' };
  }

  fire(timerId: number): InboxMessage {
    const t = this.timers().find((x) => x.timerId === timerId)!;
    this.work = this.work.filter((w) => !(w.kind === 'timer' && w.timerId === timerId));
    return { kind: 'timerFired', executionId: 'e1', timerId, fireAt: t.fireAt };
  }

  raise(name: string, data: unknown): InboxMessage {
    return { kind: 'event', name, input: JSON.stringify(data) };
  }

  /** One episode: the messages arrive, the SDK replays the whole history, the engine applies its reply. */
  async deliver(messages: InboxMessage[]): Promise<Applied> {
    const ctx = {
      instanceId: this.opts.instanceId,
      executionId: 'e1',
      name: this.opts.name,
      now: this.now,
    };
    const prepared = prepareEpisode({ ...ctx, state: this.state, history: this.history, messages });
    const triggerValue = {
      history: JSON.parse(
        JSON.stringify([
          ...this.history.map((e) => ({ ...e, IsPlayed: true })),
          ...prepared.newEvents,
        ]),
      ) as unknown,
      input: this.opts.input,
      instanceId: this.opts.instanceId,
      isReplaying: this.history.length > 0,
      upperSchemaVersion: UPPER_SCHEMA_VERSION,
      maximumShortTimerDuration: 'P3650D',
      longRunningTimerIntervalDuration: 'P3D',
    };
    let applied: Applied;
    try {
      const reply = (await this.handler(
        triggerValue,
        new DummyOrchestrationContext(),
      )) as OrchestratorStateWire;
      this.replies.push(JSON.parse(JSON.stringify(reply)) as OrchestratorStateWire);
      applied = applyResult(
        ctx,
        prepared,
        JSON.parse(JSON.stringify(reply)) as OrchestratorStateWire,
      );
    } catch (e) {
      const parsed = parseOrchestratorFailure((e as Error).message);
      applied = applyResult(ctx, prepared, parsed.state, parsed.state?.error ?? parsed.message);
    }
    this.history.push(...prepared.newEvents, ...applied.events);
    this.state = applied.state;
    this.work.push(...applied.work);
    this.outcome = applied.outcome;
    if (applied.customStatus !== undefined) this.customStatus = applied.customStatus;
    return applied;
  }
}
