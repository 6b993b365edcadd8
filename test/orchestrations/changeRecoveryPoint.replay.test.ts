import { describe, expect, it } from 'vitest';
import {
  CHANGE_RECOVERY_POINT,
  changeRecoveryPointOrchestrator,
} from '../../orchestrations/changeRecoveryPoint';
import { SUB, happyTarget, recoveryInput, runRecovery, type Call } from './recoveryReplay';

const JOB = 'job-00000000000000abcdef';
const rg = `${SUB}/resourceGroups/rg-dr/providers`;
const oldVm = {
  jobId: 'job-failover',
  pointId: 'p1',
  pointTime: '2026-01-01T00:00:00Z',
  resourceGroup: 'rg-dr',
  vmId: `${rg}/Microsoft.Compute/virtualMachines/haven-failover-m-1-vm`,
  nicId: `${rg}/Microsoft.Network/networkInterfaces/haven-failover-m-1-nic`,
  diskIds: [`${rg}/Microsoft.Compute/disks/old-os`, `${rg}/Microsoft.Compute/disks/old-sdb`],
  vnetId: `${rg}/Microsoft.Network/virtualNetworks/v`,
  subnetId: `${rg}/Microsoft.Network/virtualNetworks/v/subnets/default`,
  createdVnet: true,
  createdNsg: true,
  privateIp: '192.168.7.21',
  readyAt: '2026-01-01T00:01:00Z',
};
const record = () => ({
  failover: { jobId: 'job-failover', busyJobId: JOB, planned: false, startedAt: 'x', vm: oldVm },
});
const vmView = () => ({
  id: oldVm.vmId,
  type: 'Microsoft.Compute/virtualMachines',
  name: 'haven-failover-m-1-vm',
  resourceGroup: 'rg-dr',
  location: 'local',
  tags: {},
  provisioningState: 'Succeeded',
  properties: { size: 'Standard_B2s' },
});
const input = recoveryInput('change-recovery-point', 'p2');
const named = (calls: Call[], name: string) => calls.filter((c) => c.name === name);

describe('change recovery point saga, replayed by the real SDK', () => {
  it('new disks first, then the VM again with the same name on the same NIC, old disks last', async () => {
    const { r, calls } = await runRecovery(
      changeRecoveryPointOrchestrator,
      CHANGE_RECOVERY_POINT,
      input,
      happyTarget({ Recovery_GetRecord: record, Recovery_Get: vmView }),
      JOB,
    );
    expect(r.outcome.kind).toBe('completed');
    const puts = named(calls, 'Recovery_BeginPut').map((c) => c.input);
    expect(puts.map((p) => p.type)).toEqual([
      'Microsoft.Compute/disks',
      'Microsoft.Compute/disks',
      'Microsoft.Compute/virtualMachines',
    ]);
    expect(puts[2]).toMatchObject({
      name: 'haven-failover-m-1-vm',
      networkInterfaceIds: [oldVm.nicId],
    });
    const deletes = named(calls, 'Recovery_BeginDelete').map((c) => c.input.id);
    expect(deletes).toEqual([oldVm.vmId, ...oldVm.diskIds]);
    // The old disks go only after the new VM answered the probe.
    const probeOk = calls.findLastIndex((c) => c.name === 'Recovery_Probe');
    const firstOldDisk = calls.findIndex(
      (c) => c.name === 'Recovery_BeginDelete' && c.input.id === oldVm.diskIds[0],
    );
    expect(firstOldDisk).toBeGreaterThan(probeOk);
    expect(named(calls, 'Recovery_Record').at(-1)!.input).toMatchObject({
      change: { kind: 'release', vm: { pointId: 'p2', nicId: oldVm.nicId } },
    });
    expect(named(calls, 'Recovery_SetState').at(-1)!.input).toMatchObject({ to: 'failed-over' });
  });

  it('the new VM failing brings the old one back on its old disks and deletes the new disks', async () => {
    let vmPolls = 0;
    const { r, calls } = await runRecovery(
      changeRecoveryPointOrchestrator,
      CHANGE_RECOVERY_POINT,
      input,
      happyTarget({
        Recovery_GetRecord: record,
        Recovery_Get: vmView,
        // The new VM's operation fails; the compensation's PUT (the old VM back) succeeds.
        Recovery_Poll: (c) =>
          String(c.input.state) === 'op-haven-failover-m-1-vm' && ++vmPolls === 1
            ? {
                status: 'failed',
                code: 'AllocationFailed',
                message: 'no capacity',
                retryable: false,
              }
            : { status: 'succeeded', resource: { properties: {} } },
      }),
      JOB,
    );
    expect(r.outcome.kind).toBe('failed');
    const vmPuts = named(calls, 'Recovery_BeginPut').filter(
      (c) => c.input.type === 'Microsoft.Compute/virtualMachines',
    );
    expect(vmPuts).toHaveLength(2);
    expect(vmPuts[1]!.input).toMatchObject({
      osDiskId: oldVm.diskIds[0],
      dataDisks: [{ lun: 0, diskId: oldVm.diskIds[1] }],
    });
    const deleted = named(calls, 'Recovery_BeginDelete').map((c) => String(c.input.id));
    expect(deleted.filter((d) => oldVm.diskIds.includes(d))).toEqual([]); // old disks kept
    expect(deleted.filter((d) => d.includes('/disks/haven-00abcdef'))).toHaveLength(2); // new disks gone
    expect(named(calls, 'Recovery_SetState').at(-1)!.input).toMatchObject({ to: 'failed-over' });
    expect(named(calls, 'Recovery_Record').at(-1)!.input).toMatchObject({
      change: { kind: 'release' },
    });
  });
});
