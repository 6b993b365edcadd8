import * as df from 'durable-functions';
import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { JobDoc, JobStep } from '../core/controlPlane/model';
import { JOB_CONTROL_EVENT, type JobControlEvent } from '../core/plans/jobControl';
import type { ActionOutcome, MachineOutcome } from '../core/plans/planOutcome';
import { RecoveryActivity } from './activities/recoveryActivities';
import { addMs } from './orchestrationTime';

export type Gen<T> = Generator<Task, T, unknown>;

/** What a wait ended with: its own task, a cancel, or a resume of the step it waited on. */
export type WaitEnd = 'done' | 'cancel' | { resume: JobControlEvent };

/**
 * What the plan, drill and alert-decision sagas share (not a saga itself): retried activity
 * calls, job updates (a plan job's result carries each machine's and each action's outcome),
 * the job-control events (resume, cancel) that can arrive at any time, and waits that a
 * cancel interrupts. Times come from the replayed orchestration clock.
 */
export class PlanSaga {
  readonly jobId: string;
  readonly machines = new Map<string, MachineOutcome>();
  readonly actions: ActionOutcome[] = [];
  /** Who resumed what (the job's audit of manual actions). */
  readonly manual: { step: string; by: string; at: string; comment?: string; outcome: string }[] =
    [];
  cancelled = false;
  private control: Task;
  private readonly retry: df.RetryOptions;

  constructor(readonly ctx: OrchestrationContext) {
    this.jobId = ctx.df.instanceId;
    this.control = ctx.df.waitForExternalEvent(JOB_CONTROL_EVENT);
    this.retry = new df.RetryOptions(500, 4);
    this.retry.backoffCoefficient = 2;
    this.retry.maxRetryIntervalInMilliseconds = 10_000;
  }

  call(name: string, input: unknown): Task {
    return this.ctx.df.callActivityWithRetry(name, this.retry, input);
  }

  now(): Date {
    return this.ctx.df.currentUtcDateTime;
  }

  iso(): string {
    return this.now().toISOString();
  }

  timer(ms: number): TimerTask {
    return this.ctx.df.createTimer(addMs(this.now(), ms));
  }

  /** Updates the job (Recovery_Job: steps merged by name, result merged shallowly). */
  job(u: {
    state?: JobDoc['state'];
    percent?: number;
    stepName?: string;
    steps?: JobStep[];
    result?: Record<string, unknown>;
    error?: { kind: string; message: string };
    allowedActions?: string[];
  }): Task {
    return this.call(RecoveryActivity.job, { jobId: this.jobId, ...u });
  }

  /** The job's result parts that change as the plan runs. */
  progress(): Record<string, unknown> {
    return {
      machines: [...this.machines.values()],
      actions: this.actions,
      ...(this.manual.length ? { manual: this.manual } : {}),
    };
  }

  /** A control event that arrived (consumed: the next one gets a fresh waiter). */
  private take(): JobControlEvent {
    const e = this.control.result as JobControlEvent;
    this.control = this.ctx.df.waitForExternalEvent(JOB_CONTROL_EVENT);
    return e;
  }

  /**
   * Waits for `tasks` (any of them) or a control event. A cancel sets `cancelled`; a resume is
   * returned to the caller (a manual wait decides whether it answers its step). Returns the
   * task that completed, or the event (then completed tasks are returned by the next call).
   */
  *waitAny(tasks: Task[]): Gen<{ task?: Task; event?: JobControlEvent }> {
    const settled = (t: Task) => t.isCompleted || t.isFaulted;
    // A control event that arrived with other results is seen first (a cancel then starts nothing).
    const done = [this.control, ...tasks].find(settled);
    const winner = done ?? ((yield this.ctx.df.Task.any([...tasks, this.control])) as Task);
    if (winner !== this.control && !settled(this.control)) return { task: winner };
    const event = this.take();
    if (event.action === 'cancel') this.cancelled = true;
    return { event };
  }

  /** Whether a cancel has arrived (also one not yet taken by a wait). */
  seenCancel(): boolean {
    if (!this.cancelled && (this.control.isCompleted || this.control.isFaulted)) {
      if (this.take().action === 'cancel') this.cancelled = true;
    }
    return this.cancelled;
  }

  /** A durable timer a cancel interrupts (true when it ran to its end). */
  *sleep(ms: number): Gen<boolean> {
    return yield* this.until(addMs(this.now(), ms));
  }

  /**
   * Waits until `at` unless a cancel comes first (true when the time came). After any other
   * event a new timer for the same moment replaces the old one: a scheduled task must never go
   * into a new Task.any (azure-functions-durable-js#574).
   */
  *until(at: Date): Gen<boolean> {
    for (;;) {
      if (this.seenCancel()) return false;
      const t = this.ctx.df.createTimer(at);
      const r = yield* this.waitAny([t]);
      if (r.task) return true;
      t.cancel();
    }
  }
}
