import type { OrchestrationHandler } from 'durable-functions';
import type { InboxMessage, WorkItem } from '../../local/durable/engineState';
import { planBody } from '../../core/plans/planSchema';
import { groupsToRun } from '../../core/plans/planRun';
import { redactGroups } from '../../core/plans/planSecrets';
import type { PlanJobInput } from '../../core/plans/planJobInput';
import type { PlanOperationType } from '../../core/plans/planOperations';
import { Replay } from './replayHarness';

export interface Call {
  name: string;
  input: Record<string, unknown>;
}
export interface SubCall {
  name: string;
  instanceId: string;
  input: Record<string, unknown>;
}

/** How the test plays the world: activities, sub-orchestrations, and what a person does when the saga waits. */
export interface World {
  activity?: (call: Call, calls: Call[]) => unknown;
  sub?: (sub: SubCall) => { result: unknown } | { error: string };
  /** Called when nothing but timers or events are pending; messages to deliver, or undefined to fire the next timer. */
  idle?: (r: Replay, calls: Call[]) => InboxMessage[] | undefined;
  /** Sub-orchestrations end one per round, oldest first (others stay running meanwhile). */
  subsOneAtATime?: boolean;
  /** Extra messages delivered with each round's answers (e.g. a cancel while machines run). */
  along?: (r: Replay, calls: Call[], subs: SubCall[]) => InboxMessage[];
}

/** Default activity answers: jobs, facts, machines start, webhooks and probes pass. */
export function defaultActivity(call: Call): unknown {
  const i = call.input;
  switch (call.name) {
    case 'Plan_Facts':
      return { pollMs: 100 };
    case 'Plan_StartMachine':
      return {
        jobId: `job-${String(i.machineId)}`,
        orchestration: 'failover',
        input: { machineId: i.machineId },
      };
    case 'Plan_Webhook':
      return { ok: true, target: 'hooks.example/run', status: 200, retryable: false };
    case 'Plan_Probe':
      return { machineId: i.machineId, ok: true, detail: 'HTTP 200', at: '2026-01-01T00:00:10Z' };
    default:
      return true;
  }
}

export const subOk = (sub: SubCall) => ({
  result: {
    pointId: 'p1',
    vm: {
      vmId: `/vm/${sub.instanceId}`,
      pointTime: '2026-01-01T00:00:00Z',
      privateIp: '10.0.0.4',
      publicIp: '127.1.0.4',
      readyAt: '2026-01-01T00:00:09Z',
    },
  },
});

/** A plan job input from a plan body (what PlanService.start builds). */
export function planInput(
  body: unknown,
  op: PlanOperationType = 'failover',
  extra: Partial<PlanJobInput> = {},
): PlanJobInput {
  const p = planBody.parse(body);
  const groups = groupsToRun(p.groups, op, false);
  return {
    planName: 'erp',
    operation: op,
    planned: false,
    choice: 'latest',
    points: Object.fromEntries(groups.flatMap((g) => g.machines.map((m) => [m, 'latest']))),
    notes: {},
    groups: redactGroups(groups),
    maxParallel: p.maxParallel,
    automated: false,
    unattended: false,
    ...extra,
  };
}

/**
 * Drives a plan-side saga with the real SDK over synthetic histories until it ends or nothing
 * is left to answer. Activities are answered in scheduling order; sub-orchestrations too;
 * when only timers remain, `idle` may act first (raise an event), else the earliest timer fires.
 */
export async function drive(
  fn: OrchestrationHandler,
  name: string,
  input: unknown,
  world: World = {},
  instanceId = 'job-plan',
): Promise<{ r: Replay; calls: Call[]; subs: SubCall[]; maxInFlight: number }> {
  const r = new Replay(fn, { instanceId, name, input });
  const calls: Call[] = [];
  const subs: SubCall[] = [];
  const inFlight = new Set<string>();
  const held: { taskId: number; sub: SubCall }[] = [];
  const finish = (taskId: number, sub: SubCall): InboxMessage => {
    const out = (world.sub ?? subOk)(sub);
    return 'error' in out
      ? { kind: 'subFailed', executionId: 'e1', taskId, reason: out.error, details: 'Error' }
      : { kind: 'subCompleted', executionId: 'e1', taskId, result: JSON.stringify(out.result) };
  };
  let maxInFlight = 0;
  await r.start();
  for (let guard = 0; guard < 5000; guard++) {
    if (r.outcome.kind !== 'running') break;
    const acts = r.activities();
    const starts = r.work.filter(
      (w): w is Extract<WorkItem, { kind: 'startSub' }> => w.kind === 'startSub',
    );
    if (acts.length || starts.length || held.length) {
      const messages: InboxMessage[] = acts.map((a) => {
        const call = {
          name: a.name,
          input: JSON.parse(a.input ?? 'null') as Record<string, unknown>,
        };
        calls.push(call);
        if (call.name === 'Plan_StartMachine') {
          inFlight.add(String(call.input.machineId));
          maxInFlight = Math.max(maxInFlight, inFlight.size);
        }
        try {
          const res = (world.activity ?? defaultActivity)(call, calls);
          if (
            call.name === 'Plan_StartMachine' &&
            res &&
            typeof res === 'object' &&
            'refused' in res
          )
            inFlight.delete(String(call.input.machineId));
          return r.complete(a.taskId, res);
        } catch (e) {
          return r.fail(a.taskId, (e as Error).message);
        }
      });
      for (const w of starts) {
        r.work = r.work.filter((x) => x !== w);
        const sub = {
          name: w.name,
          instanceId: w.instanceId,
          input: JSON.parse(w.input ?? 'null') as Record<string, unknown>,
        };
        // The SDK must never start a sub-orchestration twice (durable-js#574 re-yield bug).
        if (subs.some((x) => x.instanceId === sub.instanceId))
          throw new Error(`sub-orchestration ${sub.instanceId} scheduled twice`);
        subs.push(sub);
        if (world.subsOneAtATime) held.push({ taskId: w.taskId, sub });
        else {
          inFlight.delete(String(sub.input.machineId));
          messages.push(finish(w.taskId, sub));
        }
      }
      if (world.subsOneAtATime && held.length && !acts.length) {
        const h = held.shift()!;
        inFlight.delete(String(h.sub.input.machineId));
        messages.push(finish(h.taskId, h.sub));
      }
      messages.push(...(world.along?.(r, calls, subs) ?? []));
      await r.deliver(messages);
      continue;
    }
    const extra = world.idle?.(r, calls);
    if (extra?.length) {
      await r.deliver(extra);
      continue;
    }
    const timers = r.timers();
    if (!timers.length) break;
    const next = timers.reduce((a, b) => (a.fireAt < b.fireAt ? a : b));
    r.now = new Date(Math.max(r.now.getTime(), Date.parse(next.fireAt)));
    await r.deliver([r.fire(next.timerId)]);
  }
  return { r, calls, subs, maxInFlight };
}

/** The job updates' last value of a result field. */
export const lastResult = (calls: Call[], field: string): unknown =>
  calls
    .filter(
      (c) =>
        c.name === 'Recovery_Job' &&
        (c.input.result as Record<string, unknown> | undefined)?.[field] !== undefined,
    )
    .map((c) => (c.input.result as Record<string, unknown>)[field])
    .at(-1);
