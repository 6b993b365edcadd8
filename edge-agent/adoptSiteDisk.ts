import * as path from 'node:path';
import { HavenError } from '../core/errors';
import type { AgentState } from './agentState';
import type { ControlPlaneClient } from './controlPlaneClient';

/**
 * After a failback is accepted onto `target`, that file or device *is* the site disk: the
 * server starts from it, and re-enable must replicate it (and finds its seed index by this
 * path, edge-agent/seedIndex.ts). A failback onto a new disk moves the disk's path; an agent
 * that took over the machine on new hardware (replacement token) has no disk entry yet and
 * adds it with the geometry and generation the control plane holds.
 */
export async function adoptSiteDisk(
  state: AgentState,
  api: ControlPlaneClient,
  machineId: string,
  diskId: string,
  target: string,
): Promise<'kept' | 'moved' | 'added'> {
  const to = path.resolve(target);
  const disks = await state.disks();
  const known = disks.find((d) => d.id === diskId);
  if (known) {
    if (path.resolve(known.path) === to) return 'kept';
    await state.saveDisks(disks.map((d) => (d === known ? { ...d, path: to } : d)));
    return 'moved';
  }
  const cloud = (await api.listDisks(machineId)).find((d) => d.id === diskId);
  if (!cloud)
    throw new HavenError('not-found', `Disk ${diskId} is not a disk of machine ${machineId}.`);
  await state.saveDisks([
    ...disks,
    {
      id: diskId,
      path: to,
      sizeBytes: cloud.sizeBytes,
      sectorSize: cloud.logicalSectorSize,
      generation: cloud.generation ?? 1,
    },
  ]);
  return 'added';
}
