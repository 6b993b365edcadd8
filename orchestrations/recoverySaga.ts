import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type {
  OperationHandle,
  OperationOutcome,
  ResourceId,
  ResourceSpec,
  ResourceView,
} from '../core/recovery/ports';
import { ArmActivity } from './activities/armActivities';
import { SagaCancelled, SagaFailure, firstLine } from './sagaErrors';
import type { JobStep } from '../core/controlPlane/model';
import { RecoveryActivity as A, type JobUpdate } from './activities/recoveryActivities';
import type { TargetFacts } from './activities/recoveryDeps';
import { addMs } from './orchestrationTime';

export type Gen<T> = Generator<Task, T, unknown>;

/** A compensation: delete what a step made, put back what it removed, or call an activity. */
export type Undo =
  | { kind: 'delete'; id: ResourceId }
  | { kind: 'put'; spec: ResourceSpec }
  | { kind: 'call'; name: string; input: unknown };

export type SagaFacts = TargetFacts & { pollMs: number; latestWaitMs: number };

/** A failed ARM operation (the outcome's code and message). */
export class OperationFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** ARM said it may work if tried again (throttled, an internal error). */
    readonly retryable = false,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Times a failed operation that ARM calls retryable is started again (idempotent PUT/DELETE). */
const OPERATION_ATTEMPTS = 3;

/**
 * What every recovery saga shares (not a saga itself): retried activity calls, ARM operations
 * started in one activity and polled after durable timers, job steps with their times (from
 * the replayed orchestration clock, so replays agree), and the compensation stack, which each
 * step pushes onto *before* it acts.
 */
export class RecoverySaga {
  readonly jobId: string;
  readonly undo: Undo[] = [];
  /** Step durations (ms) for the job's result. */
  readonly timings: Record<string, number> = {};
  facts!: SagaFacts;
  private readonly retry: df.RetryOptions;

  constructor(readonly ctx: OrchestrationContext) {
    this.jobId = ctx.df.instanceId;
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

  /**
   * Step ends wait here for the next job update (the next step's start, or the end of the job):
   * one activity instead of two between steps, a shorter RTO.
   */
  private pendingSteps: JobStep[] = [];

  job(u: Omit<JobUpdate, 'jobId'>): Task {
    const steps = [...this.pendingSteps, ...(u.steps ?? [])];
    this.pendingSteps = [];
    return this.call(A.job, { jobId: this.jobId, ...u, ...(steps.length ? { steps } : {}) });
  }

  *loadFacts(): Gen<SagaFacts> {
    this.facts = (yield this.call(ArmActivity.facts, {})) as SagaFacts;
    return this.facts;
  }

  *sleep(ms: number): Gen<void> {
    yield this.ctx.df.createTimer(addMs(this.now(), ms));
  }

  /** Polls an operation until it ends; a failed one throws `OperationFailed`. */
  *until(handle: OperationHandle): Gen<ResourceView | undefined> {
    for (;;) {
      const o = (yield this.call(ArmActivity.poll, handle)) as OperationOutcome;
      if (o.status === 'succeeded') return o.resource;
      if (o.status === 'failed') throw new OperationFailed(o.code, o.message, o.retryable);
      yield* this.sleep(this.facts.pollMs);
    }
  }

  /** PUT and wait; the compensation (delete) is pushed first, unless `keep`. */
  *put(spec: ResourceSpec, id: ResourceId, keep = false): Gen<ResourceView | undefined> {
    if (!keep) this.undo.push({ kind: 'delete', id });
    return yield* this.attempts(ArmActivity.beginPut, spec);
  }

  *del(id: ResourceId): Gen<void> {
    yield* this.attempts(ArmActivity.beginDelete, { id });
  }

  /** Starts an operation and waits for it; a retryable failure starts it again, after a pause. */
  private *attempts(begin: string, input: unknown): Gen<ResourceView | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const handle = (yield this.call(begin, input)) as OperationHandle;
        return yield* this.until(handle);
      } catch (e) {
        if (!(e instanceof OperationFailed && e.retryable) || attempt >= OPERATION_ATTEMPTS)
          throw e;
        yield* this.sleep(this.facts.pollMs * 2 ** attempt);
      }
    }
  }

  /**
   * Runs several generators side by side (e.g. one disk import each), yielding their pending
   * tasks together. A failure lets the others run to their end (so everything they made is
   * on the compensation stack and no operation is left in flight), then throws the first.
   */
  *all<T>(gens: Gen<T>[]): Gen<T[]> {
    const results: T[] = new Array<T>(gens.length);
    let failure: { e: unknown } | undefined;
    const drive = (g: Gen<T>, i: number, f: () => IteratorResult<Task, T>) => {
      try {
        const r = f();
        if (r.done) results[i] = r.value;
        return r;
      } catch (e) {
        failure ??= { e };
        return undefined;
      }
    };
    let live = gens
      .map((g, i) => ({ g, i, next: drive(g, i, () => g.next()) }))
      .filter(
        (p): p is { g: Gen<T>; i: number; next: IteratorYieldResult<Task> } =>
          !!p.next && !p.next.done,
      );
    while (live.length) {
      const tasks = live.map((p) => p.next.value);
      try {
        yield this.ctx.df.Task.all(tasks);
      } catch {
        // One failed: let the rest settle before deciding (their results still count).
        for (const t of tasks) {
          if (t.isCompleted || t.isFaulted) continue;
          try {
            yield t;
          } catch {
            // seen below through isFaulted
          }
        }
      }
      live = live
        .map((p) => {
          const t = p.next.value;
          return {
            ...p,
            next: drive(p.g, p.i, () => (t.isFaulted ? p.g.throw(t.result) : p.g.next(t.result))),
          };
        })
        .filter(
          (p): p is { g: Gen<T>; i: number; next: IteratorYieldResult<Task> } =>
            !!p.next && !p.next.done,
        );
    }
    if (failure) throw failure.e;
    return results;
  }

  /** A job step: shown running, then succeeded (or failed) with its times. */
  *step<T>(name: string, body: () => Gen<T>, percent?: number): Gen<T> {
    const startedAt = this.now();
    yield this.job({
      stepName: name,
      ...(percent !== undefined ? { percent } : {}),
      steps: [{ name, state: 'running', startedAt: startedAt.toISOString() }],
    });
    try {
      const out = yield* body();
      const endedAt = this.now();
      this.timings[name] = endedAt.getTime() - startedAt.getTime();
      this.pendingSteps.push({ name, state: 'succeeded', endedAt: endedAt.toISOString() });
      return out;
    } catch (e) {
      yield this.job({
        steps: [{ name, state: 'failed', endedAt: this.now().toISOString(), detail: firstLine(e) }],
      });
      throw e;
    }
  }

  /** Marks a step skipped (e.g. the probe of a VM without a public IP). */
  skip(name: string, detail: string): Task {
    return this.job({ steps: [{ name, state: 'skipped', detail }] });
  }

  /** Runs the compensation stack newest first; returns what could not be undone. */
  *compensate(): Gen<string[]> {
    const failures: string[] = [];
    while (this.undo.length) {
      const u = this.undo.pop()!;
      try {
        if (u.kind === 'delete') yield* this.del(u.id);
        else if (u.kind === 'put')
          yield* this.until((yield this.call(ArmActivity.beginPut, u.spec)) as OperationHandle);
        else yield this.call(u.name, u.input);
      } catch (e) {
        failures.push(
          `${u.kind === 'call' ? u.name : u.kind === 'put' ? u.spec.name : u.id}: ${firstLine(e)}`,
        );
      }
    }
    return failures;
  }

  /** Ends the job failed (or cancelled), naming the cause and anything compensation could not undo. */
  fail(e: unknown, failures: string[], result: Record<string, unknown> = {}): Task {
    const cancelled = e instanceof SagaCancelled;
    return this.job({
      state: cancelled ? 'cancelled' : 'failed',
      percent: 100,
      stepName: cancelled ? 'cancelled' : 'failed',
      error: { kind: cancelled ? 'cancelled' : 'saga-failed', message: firstLine(e) },
      result: {
        ...result,
        ...(e instanceof SagaFailure ? e.result : {}),
        timings: this.timings,
        ...(failures.length ? { compensationFailures: failures } : {}),
      },
      allowedActions: [],
    });
  }
}

/** How a recovery saga ends well: its result, the job's last step and what may follow. */
export interface SagaOutcome {
  result: Record<string, unknown>;
  stepName: string;
  allowedActions: string[];
}

/**
 * The frame every recovery saga shares: the job runs, the target's facts are loaded, `body`
 * does the work; on success the job ends succeeded with the outcome and the step timings; on
 * failure the compensation stack runs, then `failed` (the saga's own bookkeeping: clear or
 * release its record, move the state back), then the job ends failed and the orchestration
 * fails with the cause.
 */
export function* runRecoverySaga<I>(
  ctx: OrchestrationContext,
  body: (s: RecoverySaga, input: I) => Gen<SagaOutcome>,
  failed: (s: RecoverySaga, input: I, compensationFailures: string[]) => Gen<void>,
): Gen<Record<string, unknown>> {
  const input = ctx.df.getInput() as I;
  const s = new RecoverySaga(ctx);
  try {
    yield s.job({ state: 'running', percent: 0, stepName: 'starting', allowedActions: [] });
    yield* s.loadFacts();
    const out = yield* body(s, input);
    const result = { ...out.result, timings: s.timings };
    yield s.job({
      state: 'succeeded',
      percent: 100,
      stepName: out.stepName,
      result,
      allowedActions: out.allowedActions,
    });
    return result;
  } catch (e) {
    const failures = yield* s.compensate();
    yield* failed(s, input, failures);
    yield s.fail(e, failures);
    if (e instanceof SagaCancelled) return { cancelled: true, compensationFailures: failures };
    throw e;
  }
}
