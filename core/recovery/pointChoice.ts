import { z } from 'zod';
import { conflict, notFound } from '../errors';

/**
 * Which recovery point a failover uses (issue 12 §4). Pure: the caller lists the machine's
 * points (newest first). Every listed point is durable (all its batches are stored in Azure);
 * it is materialized once hydration reached it (each disk has its replica snapshot). A saga
 * drives the chosen point to materialized before it uses it.
 *
 * - `latest`: lowest RPO: the newest durable point (materialized first: the job shows it).
 * - `latest-processed`: lowest RTO: the newest point already materialized.
 * - `latest-app-consistent`: the newest point cut with the freeze hooks.
 * - `latest-group`: the newest complete consistency-group point with `barrier: true`.
 * - a point id: exactly that point of this machine.
 */
export const POINT_CHOICES = [
  'latest',
  'latest-processed',
  'latest-app-consistent',
  'latest-group',
] as const;
export type NamedPointChoice = (typeof POINT_CHOICES)[number];
export type PointChoice = NamedPointChoice | { id: string };

export const pointChoiceSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a point choice or a recovery point id');

export function parsePointChoice(s: string | undefined, fallback: NamedPointChoice): PointChoice {
  if (s === undefined) return fallback;
  return (POINT_CHOICES as readonly string[]).includes(s) ? (s as NamedPointChoice) : { id: s };
}

export const choiceLabel = (c: PointChoice): string => (typeof c === 'string' ? c : c.id);

/** What point choice needs of a point (a subset of the API's RecoveryPoint). */
export interface CandidatePoint {
  id: string;
  machineId: string;
  time: string;
  consistency: 'crash' | 'app';
  groupId?: string;
  barrier?: boolean;
  /** Hydrated up to its bookmark (absent = yes: points of the first schema were). */
  materialized?: boolean;
}

export interface ChoiceContext {
  machineId: string;
  /** The machine's consistency group, for `latest-group`. */
  groupId?: string;
  /** Ids of the group's complete points (every member published it). */
  completeGroupPoints?: ReadonlySet<string>;
}

/**
 * The chosen point out of `points` (newest first). Refusals are HavenErrors that change
 * nothing: `not-found` for an unknown id or a point of another machine, `conflict` when no
 * point fits (none yet, no app-consistent one, not in a group, no barrier group point).
 */
export function choosePoint<P extends CandidatePoint>(
  points: readonly P[],
  choice: PointChoice,
  ctx: ChoiceContext,
): P {
  const mine = points.filter((p) => p.machineId === ctx.machineId);
  if (typeof choice !== 'string') {
    const found = mine.find((p) => p.id === choice.id);
    if (!found) throw notFound('Recovery point', choice.id);
    return found;
  }
  const pick = (pred: (p: P) => boolean, why: string): P => {
    const p = mine.find(pred);
    if (!p) throw conflict(`No recovery point fits '${choice}': ${why}.`, { choice });
    return p;
  };
  switch (choice) {
    case 'latest':
      return pick(() => true, 'the machine has no recovery point yet');
    case 'latest-processed':
      return pick((p) => p.materialized !== false, 'no point is materialized yet');
    case 'latest-app-consistent':
      return pick((p) => p.consistency === 'app', 'no app-consistent point');
    case 'latest-group':
      if (!ctx.groupId)
        throw conflict(`Machine '${ctx.machineId}' is not in a consistency group.`, { choice });
      return pick(
        (p) =>
          p.groupId === ctx.groupId &&
          p.barrier === true &&
          (ctx.completeGroupPoints?.has(p.id) ?? false),
        `no complete barrier point of group '${ctx.groupId}'`,
      );
  }
}
