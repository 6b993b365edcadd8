import { describe, expect, it } from 'vitest';
import { FailbackActivity as F } from '../../orchestrations/activities/failbackActivities';
import { FailbackEndActivity as E } from '../../orchestrations/activities/failbackEndActivities';
import { EnableProtectionActivity as P } from '../../orchestrations/activities/enableProtectionActivities';
import { COMMIT_FAILBACK, commitFailbackOrchestrator } from '../../orchestrations/commitFailback';
import { FAILBACK, failbackOrchestrator } from '../../orchestrations/failback';
import { REENABLE, reenableOrchestrator } from '../../orchestrations/reenable';
import { SUB, happyTarget, recoveryInput, runRecovery, type Call } from './recoveryReplay';

const JOB = 'job-00000000000000abcdef';
const rg = `${SUB}/resourceGroups/rg-dr/providers`;
const snap = (n: string) => `${rg}/Microsoft.Compute/snapshots/${n}`;
const vm = {
  jobId: 'job-failover',
  pointId: 'p1',
  pointTime: '2026-01-01T00:00:00Z',
  resourceGroup: 'rg-dr',
  vmId: `${rg}/Microsoft.Compute/virtualMachines/haven-vm`,
  nicId: `${rg}/Microsoft.Network/networkInterfaces/haven-nic`,
  publicIpId: `${rg}/Microsoft.Network/publicIPAddresses/haven-ip`,
  diskIds: [`${rg}/Microsoft.Compute/disks/os`],
  vnetId: `${rg}/Microsoft.Network/virtualNetworks/v`,
  subnetId: `${rg}/Microsoft.Network/virtualNetworks/v/subnets/default`,
  createdVnet: false,
  createdNsg: false,
  readyAt: '2026-01-01T00:01:00Z',
};
const named = (calls: Call[], name: string) => calls.filter((c) => c.name === name);
const lastJob = (calls: Call[]) => named(calls, 'Recovery_Job').at(-1)!.input;
const seeds = [
  { diskId: 'sda', sizeBytes: 1 << 24, generation: 2, snapshotId: snap('final-0'), digest: 'a' },
  { diskId: 'sdb', sizeBytes: 1 << 24, generation: 3, snapshotId: snap('final-1'), digest: 'b' },
];

/** A re-enable of the two seeded disks, against a well-behaved target with these answers. */
const reenable = (over: Parameters<typeof happyTarget>[0]) =>
  runRecovery(
    reenableOrchestrator,
    REENABLE,
    recoveryInput('reenable'),
    happyTarget({ [E.plan]: () => seeds, ...over }),
    JOB,
  );

describe('the end of the way back, replayed by the real SDK', () => {
  it('commit of failback: the VM first, then its NIC, the rest and the older snapshots; the final snapshot stays', async () => {
    const { r, calls } = await runRecovery(
      commitFailbackOrchestrator,
      COMMIT_FAILBACK,
      recoveryInput('commit-failback'),
      happyTarget({
        Recovery_GetRecord: () => ({
          failover: { jobId: 'job-failover', planned: false, startedAt: 'x', vm },
          failback: {
            commitJobId: JOB,
            disks: [
              {
                diskId: 'sda',
                baseSnapshotId: snap('final-0'),
                snapshots: [snap('first-0'), snap('final-0')],
              },
            ],
          },
        }),
        [E.deleteBatches]: () => 4,
      }),
      JOB,
    );
    expect(r.outcome.kind).toBe('completed');
    const deletes = named(calls, 'Recovery_BeginDelete').map((c) => c.input.id);
    expect(deletes[0]).toBe(vm.vmId);
    expect(deletes[1]).toBe(vm.nicId);
    expect(deletes).toContain(snap('first-0'));
    expect(deletes).not.toContain(snap('final-0'));
    expect(deletes).not.toContain(vm.vnetId); // Haven did not make it
    expect(named(calls, E.committed)[0]!.input.removed).toEqual(
      expect.arrayContaining([vm.vmId, vm.nicId, vm.publicIpId, ...vm.diskIds, snap('first-0')]),
    );
    expect(lastJob(calls)).toMatchObject({
      state: 'succeeded',
      result: { kept: [snap('final-0')], reverseBatchesRemoved: 4 },
    });
  });

  it('a failed commit of failback is released (it may run again) and records nothing committed', async () => {
    const { calls } = await runRecovery(
      commitFailbackOrchestrator,
      COMMIT_FAILBACK,
      recoveryInput('commit-failback'),
      happyTarget({
        Recovery_GetRecord: () => ({
          failover: { jobId: 'job-failover', planned: false, startedAt: 'x', vm },
          failback: { commitJobId: JOB, disks: [] },
        }),
        Recovery_Poll: (c) => {
          if (String(c.input.state).includes('haven-nic'))
            return { status: 'failed', error: { code: 'Conflict', message: 'in use' } };
          return { status: 'succeeded' };
        },
      }),
      JOB,
    );
    expect(named(calls, E.committed)).toEqual([]);
    expect(named(calls, E.releaseCommit)).toHaveLength(1);
    expect(lastJob(calls)).toMatchObject({ state: 'failed' });
  });

  it('re-enable: seeds every disk, switches, waits for the first points, then deletes the seeds and closes the records', async () => {
    let settles = 0;
    const { r, calls } = await reenable({
      [E.seed]: () => ({ bytesWritten: 1000, digest: 'a' }),
      [E.settle]: () => ({ done: ++settles > 2, pending: settles > 2 ? [] : ['sda'] }),
    });
    expect(r.outcome.kind).toBe('completed');
    const order = calls.map((c) => c.name).filter((n) => n !== 'Recovery_Job');
    const at = (n: string) => order.indexOf(n);
    expect(named(calls, P.createReplica).map((c) => c.input.generation)).toEqual([2, 3]);
    expect(at(E.switchGeneration)).toBeGreaterThan(order.lastIndexOf(E.seed));
    expect(at(E.settle)).toBeGreaterThan(at(E.switchGeneration));
    expect(named(calls, 'Recovery_BeginDelete').map((c) => c.input.id)).toEqual(
      seeds.map((s) => s.snapshotId),
    );
    expect(order.indexOf('Recovery_BeginDelete')).toBeGreaterThan(order.lastIndexOf(E.settle));
    expect(order.at(-1)).toBe(E.finish);
    expect(named(calls, E.release)).toEqual([]);
  });

  it('re-enable without a first point for a day: alert and stalled, checks spaced out, protected when the point comes', async () => {
    const { r, calls } = await reenable({
      [E.seed]: () => ({ bytesWritten: 1, digest: 'a' }),
      // The point comes only after the stall was recorded.
      [E.settle]: (_c, all) =>
        named(all, P.setState).length
          ? { done: true, pending: [], bytesApplied: { sda: 7 } }
          : { done: false, pending: ['sda'] },
    });
    expect(r.outcome.kind).toBe('completed');
    expect(named(calls, P.raiseAlert).map((c) => c.input.kind)).toEqual(['initial-sync-stalled']);
    expect(named(calls, P.setState).map((c) => c.input.to)).toEqual(['initial-sync-stalled']);
    // A day of waiting in a bounded history: the pause between checks grows to 10 min.
    expect(named(calls, E.settle).length).toBeLessThan(200);
    expect(lastJob(calls)).toMatchObject({ state: 'succeeded' });
    expect(named(calls, E.release)).toEqual([]);
  });

  it('re-enable failing to seed deletes what it seeded and returns to failed-back; the disks never switch', async () => {
    const { r, calls } = await reenable({
      [E.seed]: (c) => {
        if (c.input.diskId === 'sdb')
          throw new Error('integrity: the seed is not the disk the site reported');
        return { bytesWritten: 1, digest: 'a' };
      },
    });
    expect(r.outcome.kind).toBe('failed');
    expect(named(calls, E.switchGeneration)).toEqual([]);
    expect(
      named(calls, P.deleteReplica)
        .map((c) => c.input.generation)
        .sort(),
    ).toEqual([2, 3]);
    expect(
      named(calls, E.unseed)
        .map((c) => c.input.diskId)
        .sort(),
    ).toEqual(['sda', 'sdb']);
    expect(named(calls, E.release)).toHaveLength(1);
    expect(calls.map((c) => c.name).lastIndexOf(E.release)).toBeGreaterThan(
      calls.map((c) => c.name).lastIndexOf(P.deleteReplica),
    );
    expect(lastJob(calls)).toMatchObject({ state: 'failed' });
  });

  /** A failback whose Azure VM reads `power` after its power-off; the site answers `status`. */
  const failback = (power: string, status: Record<string, unknown>) =>
    runRecovery(
      failbackOrchestrator,
      FAILBACK,
      recoveryInput('failback'),
      happyTarget({
        [F.begin]: () => ({
          session: 1,
          vmId: vm.vmId,
          disks: [{ diskId: 'sda', azureDiskId: vm.diskIds[0] }],
        }),
        Recovery_BeginVmAction: (c) => ({
          resourceId: vm.vmId,
          action: c.input.action,
          state: `vm-${String(c.input.action)}`,
        }),
        Recovery_InstanceView: () => ({ powerState: power, privateIps: [], publicIps: [] }),
        [F.ship]: () => ({ batches: 1, bytesChanged: 4096, bytesShipped: 100 }),
        [F.status]: () => status,
      }),
      JOB,
    );

  /** The Azure VM was powered off, then started again, and the machine is back to reprotected. */
  const expectStartedAgain = (calls: Call[]) => {
    const actions = named(calls, 'Recovery_BeginVmAction').map((c) => c.input.action);
    expect(actions).toEqual(['powerOff', 'start']);
    expect(named(calls, 'Recovery_SetState').at(-1)!.input).toMatchObject({ to: 'reprotected' });
  };

  it('a cancelled failback starts the Azure VM again, returns to reprotected and ends cancelled', async () => {
    const { r, calls } = await failback('stopped', { done: false, cancel: true, disks: [] });
    expect(r.outcome.kind).toBe('completed');
    expectStartedAgain(calls);
    expect(named(calls, F.unfinal)).toHaveLength(1);
    expect(lastJob(calls)).toMatchObject({ state: 'cancelled', error: { kind: 'cancelled' } });
  });

  it('an Azure VM that still runs 10 min after its power-off fails the failback: started again, reprotected, no diff cut', async () => {
    const { r, calls } = await failback('running', { done: true, cancel: false, disks: [] });
    expect(r.outcome.kind).toBe('failed');
    expectStartedAgain(calls);
    expect(named(calls, F.ship)).toHaveLength(0);
    expect(lastJob(calls)).toMatchObject({
      state: 'failed',
      error: { message: "The Azure VM still reads 'running' 10 min after its power-off." },
    });
  });
});
