import { conflict } from '../errors';

/** A consistency-group cut as plan point choice sees it (core/replication/groupPoints.ts). */
export interface GroupPointCandidate {
  id: string;
  time: string;
  /** Every member at cut time published its point. */
  complete: boolean;
  /** Every member held its writes at the cut: consistent across the machines. */
  barrier: boolean;
}

export interface PlanPointChoices {
  /** What each machine's saga is given: a named choice or a point id. */
  byMachine: Record<string, string>;
  /** Why a machine got something else than the plan's choice. */
  notes: Record<string, string>;
  /** The group point chosen for each consistency group (latest-group). */
  groupPoints: Record<string, { id: string; time: string }>;
}

/**
 * The point each machine of a plan recovers to, decided once when the operation starts, so
 * every group of the plan (run minutes apart) uses the same cut. For `latest-group`, the
 * machines of one consistency group get the newest cut where every member held
 * (`complete && barrier`): the application comes back at one cross-machine moment; machines in
 * no consistency group get `latest` (ASR's multi-VM choice does the same). A consistency group
 * with no such cut refuses the whole operation before anything starts. Other choices (a named
 * one or a point id) pass through to every machine.
 *
 * `groupOf`: each machine's consistency group (absent = none); `cuts`: each group's cuts,
 * newest first.
 */
export function planPointChoices(
  machines: readonly string[],
  choice: string,
  groupOf: Readonly<Record<string, string | undefined>>,
  cuts: Readonly<Record<string, readonly GroupPointCandidate[]>>,
): PlanPointChoices {
  const out: PlanPointChoices = { byMachine: {}, notes: {}, groupPoints: {} };
  if (choice !== 'latest-group') {
    for (const m of machines) out.byMachine[m] = choice;
    return out;
  }
  for (const m of machines) {
    const g = groupOf[m];
    if (!g) {
      out.byMachine[m] = 'latest';
      out.notes[m] = 'not in a consistency group: latest';
      continue;
    }
    if (!out.groupPoints[g]) {
      const cut = (cuts[g] ?? []).find((c) => c.complete && c.barrier);
      if (!cut)
        throw conflict(
          `No recovery point fits 'latest-group': consistency group '${g}' has no complete cut where every member held.`,
          { choice, groupId: g },
        );
      out.groupPoints[g] = { id: cut.id, time: cut.time };
    }
    out.byMachine[m] = out.groupPoints[g].id;
  }
  return out;
}
