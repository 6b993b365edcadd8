import { conflict, notFound } from '../errors';
import { choosePoint, type CandidatePoint, type PointChoice } from './pointChoice';
import type { PointSource } from './pointSource';

/**
 * The point a choice names right now, read through the point source: an id is checked to be
 * this machine's published point (409 while still being cut); `latest-group` looks at the
 * newest barrier points of the machine's group for a complete one.
 */
export async function resolvePoint(
  points: PointSource,
  machineId: string,
  choice: PointChoice,
): Promise<CandidatePoint> {
  if (typeof choice !== 'string') {
    const status = await points.status(machineId, choice.id);
    if (status === 'pending')
      throw conflict(`Recovery point '${choice.id}' is still being cut.`, { pointId: choice.id });
    if (!status) throw notFound('Recovery point', `${machineId}/${choice.id}`);
  }
  const list = await points.list(machineId);
  const groupId = list.find((p) => p.groupId && p.barrier)?.groupId;
  const complete = new Set<string>();
  if (choice === 'latest-group' && groupId) {
    for (const p of list.filter((x) => x.groupId === groupId && x.barrier).slice(0, 20)) {
      if (await points.groupComplete(groupId, p.id)) {
        complete.add(p.id);
        break; // the newest complete one is the answer
      }
    }
  }
  return choosePoint(list, choice, {
    machineId,
    ...(groupId ? { groupId } : {}),
    completeGroupPoints: complete,
  });
}
