import { checkHydrationLag, type HydrationLagCheck } from './hydrationLagAlerts';
import type { ReplicationDeps } from './ports';
import { checkRpo, type RpoCheck } from './rpoAlerts';

export interface MonitorPass {
  rpo: RpoCheck[];
  hydrationLag: HydrationLagCheck[];
  failures: { machineId: string; error: Error }[];
}

/**
 * The monitor timer's pass: the RPO and the hydration lag of every machine with replication
 * documents, one machine at a time; one machine's failure does not stop the rest.
 */
export async function checkMachines(deps: ReplicationDeps): Promise<MonitorPass> {
  const pass: MonitorPass = { rpo: [], hydrationLag: [], failures: [] };
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      // One directory lookup (several documents) serves both checks.
      const machine = await deps.machines.getMachine(machineId);
      if (!machine) continue;
      pass.rpo.push(await checkRpo(deps, machineId, machine));
      pass.hydrationLag.push(await checkHydrationLag(deps, machineId, machine));
    } catch (e) {
      pass.failures.push({ machineId, error: e as Error });
    }
  }
  return pass;
}
