import type { Direction, PlanAction, PlanGroup } from './planSchema';
import { actionApplies, actionScopeOf, type PlanOperationType } from './planOperations';

/** A group as one operation runs it: its machines (a restart: only some) and the actions that apply. */
export interface GroupRun {
  id: number;
  machines: string[];
  pre: PlanAction[];
  post: PlanAction[];
}

/**
 * The groups an operation runs, in order (ascending id), each with the actions scoped to this
 * operation type and direction. A restart (`only`) keeps just the machines it names, and the
 * groups that still have one; their actions run again (a health check or an approval for the
 * machines that come up now).
 */
export function groupsToRun(
  groups: readonly PlanGroup[],
  op: PlanOperationType,
  planned: boolean,
  only?: readonly string[],
  direction: Direction = 'failover',
): GroupRun[] {
  const scope = actionScopeOf(op, planned);
  const keep = only ? new Set(only) : undefined;
  return [...groups]
    .sort((a, b) => a.id - b.id)
    .map((g) => ({
      id: g.id,
      machines: keep ? g.machines.filter((m) => keep.has(m)) : [...g.machines],
      pre: g.pre.filter((a) => actionApplies(a, scope, direction)),
      post: g.post.filter((a) => actionApplies(a, scope, direction)),
    }))
    .filter((g) => g.machines.length > 0);
}

/** Every machine of a plan, in group order. */
export const planMachines = (groups: readonly Pick<PlanGroup, 'id' | 'machines'>[]): string[] =>
  [...groups].sort((a, b) => a.id - b.id).flatMap((g) => g.machines);

/**
 * Bounded fan-out: at most `limit` items in flight, started in order. Pure bookkeeping for the
 * plan saga (which starts what `take()` returns and reports each end with `done`).
 */
export class BoundedQueue<T> {
  private next = 0;
  private running = 0;
  constructor(
    private readonly items: readonly T[],
    private readonly limit: number,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error('limit must be a positive integer');
  }

  /** The items to start now (none once `limit` are in flight or all were started). */
  take(): T[] {
    const n = Math.max(0, Math.min(this.limit - this.running, this.items.length - this.next));
    const out = this.items.slice(this.next, this.next + n);
    this.next += n;
    this.running += n;
    return out;
  }

  /** One started item ended. */
  done(): void {
    if (this.running === 0) throw new Error('done() without a running item');
    this.running--;
  }

  /** Stops starting new items (cancel); what is running still ends. Returns those never started. */
  drain(): T[] {
    const rest = this.items.slice(this.next);
    this.next = this.items.length;
    return rest;
  }

  get inFlight(): number {
    return this.running;
  }

  get finished(): boolean {
    return this.running === 0 && this.next >= this.items.length;
  }
}
