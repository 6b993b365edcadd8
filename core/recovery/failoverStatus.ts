import type { ProtectedItems } from '../controlPlane/protectedItems';
import type { DeployedVm, RecoveryRecordDoc } from './model';
import type { PowerState, RecoveryTarget } from './ports';
import type { RecoveryRecords } from './recoveryRecords';

export interface VmStatus {
  id: string;
  powerState: PowerState;
  privateIp: string | null;
  publicIp: string | null;
}

/** What `haven failover status` shows (the failover if there is one, else the test failover). */
export interface FailoverStatus {
  machineId: string;
  /** The protected item's lifecycle state (null: not protected). */
  state: string | null;
  /** The point the shown VM runs from. */
  pointId: string | null;
  /** True when the shown VM is a test failover's. */
  test: boolean;
  vm: VmStatus | null;
  failover: (Omit<NonNullable<RecoveryRecordDoc['failover']>, 'vm'> & { vm?: DeployedVm }) | null;
  testFailover:
    | (Omit<NonNullable<RecoveryRecordDoc['test']>, 'vm'> & { vm?: DeployedVm; expired: boolean })
    | null;
}

async function vmStatus(
  vm: DeployedVm | undefined,
  target?: RecoveryTarget,
): Promise<VmStatus | null> {
  if (!vm) return null;
  let powerState: PowerState = 'unknown';
  let privateIp = vm.privateIp ?? null;
  let publicIp = vm.publicIp ?? null;
  if (target) {
    try {
      const v = await target.instanceView(vm.vmId);
      powerState = v.powerState;
      privateIp = v.privateIps[0] ?? privateIp;
      publicIp = v.publicIps[0] ?? publicIp;
    } catch {
      // Unknown power state (gone, or the target unreachable): the record still tells the rest.
    }
  }
  return { id: vm.vmId, powerState, privateIp, publicIp };
}

export async function failoverStatus(
  machineId: string,
  items: ProtectedItems,
  records: RecoveryRecords,
  now: number,
  target?: RecoveryTarget,
): Promise<FailoverStatus> {
  const [item, rec] = await Promise.all([items.find(machineId), records.get(machineId)]);
  const shown = rec.failover?.vm ? rec.failover.vm : rec.test?.vm;
  return {
    machineId,
    state: item?.doc.state ?? null,
    pointId: shown?.pointId ?? null,
    test: !rec.failover?.vm && !!rec.test?.vm,
    vm: await vmStatus(shown, target),
    failover: rec.failover ?? null,
    testFailover: rec.test ? { ...rec.test, expired: Date.parse(rec.test.expiresAt) <= now } : null,
  };
}

/** Test failovers past their TTL that nobody is cleaning (the timer starts their cleanup). */
export function expiredTests(
  records: readonly RecoveryRecordDoc[],
  now: number,
): RecoveryRecordDoc[] {
  return records.filter(
    (r) =>
      r.test &&
      (r.test.state === 'ready' || r.test.state === 'failed') &&
      Date.parse(r.test.expiresAt) <= now,
  );
}
