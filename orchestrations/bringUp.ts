import type { DeployedVm } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import type { PowerState, VmInstanceView } from '../core/recovery/ports';
import { armId, recoveryNames } from '../core/recovery/resourceNames';
import type { RecoverySettings } from '../core/recovery/settings';
import { ArmActivity } from './activities/armActivities';
import {
  RecoveryActivity as A,
  type ProbeResult,
  type ResolvedPoint,
} from './activities/recoveryActivities';
import { networkStep, tagsOf, type NetworkParts } from './networkStep';
import type { Gen, RecoverySaga } from './recoverySaga';
import { SagaFailure } from './sagaErrors';

/**
 * The steps that bring a machine up in Azure from a recovery point, shared by test failover,
 * failover and change of recovery point (not sagas themselves: each saga composes them and
 * owns the compensation stack they push onto).
 */

/** Copies each disk's snapshot to a base blob, imports it as a managed disk (in parallel), drops the base blobs. */
export function* diskStep(
  s: RecoverySaga,
  input: RecoveryJobInput,
  point: ResolvedPoint,
): Gen<string[]> {
  const st = input.settings;
  const names = recoveryNames(s.jobId, input.machineId);
  return yield* s.step(
    Step.diskImport,
    function* () {
      const one = function* (d: { diskId: string; os: boolean }): Gen<string> {
        const piece = point.disks.find((x) => x.diskId === d.diskId);
        if (!piece) throw new Error(`Recovery point '${point.id}' has no disk '${d.diskId}'.`);
        const base = names.baseBlob(d.diskId);
        s.undo.push({ kind: 'call', name: A.deleteBase, input: { name: base } });
        const { sourceUri } = (yield s.call(A.copyBase, {
          blob: piece.blob,
          snapshot: piece.snapshot,
          name: base,
        })) as {
          sourceUri: string;
        };
        const name = names.disk(d.diskId, d.os);
        const diskId = armId(
          s.facts.subscriptionPath,
          st.resourceGroup,
          'Microsoft.Compute/disks',
          name,
        );
        yield* s.put(
          {
            type: 'Microsoft.Compute/disks',
            resourceGroup: st.resourceGroup,
            name,
            location: st.location,
            tags: tagsOf(s, input, { 'haven-disk': d.diskId, 'haven-point': point.id }),
            source: { kind: 'import', sourceUri, storageAccountId: s.facts.storageAccountId },
            ...(d.os ? { osType: 'Linux' as const } : {}),
            hyperVGeneration: 'V2',
          },
          diskId,
        );
        // The disk holds the bytes now: the base blob has done its job.
        yield s.call(A.deleteBase, { name: base });
        return diskId;
      };
      return yield* s.all(input.disks.map((d) => one(d)));
    },
    35,
  );
}

/** Creates the VM (OS disk first, the rest as data disks in id order) on the NIC. */
export function* vmStep(
  s: RecoverySaga,
  input: RecoveryJobInput,
  vmName: string,
  diskIds: string[],
  nicId: string,
): Gen<string> {
  const st = input.settings;
  const vmId = armId(
    s.facts.subscriptionPath,
    st.resourceGroup,
    'Microsoft.Compute/virtualMachines',
    vmName,
  );
  yield* s.step(
    Step.vmCreate,
    function* () {
      yield* s.put(
        {
          type: 'Microsoft.Compute/virtualMachines',
          resourceGroup: st.resourceGroup,
          name: vmName,
          location: st.location,
          tags: tagsOf(s, input),
          size: st.vmSize,
          osDiskId: diskIds[0]!,
          osType: 'Linux',
          dataDisks: diskIds.slice(1).map((diskId, lun) => ({ lun, diskId })),
          networkInterfaceIds: [nicId],
          bootDiagnostics: true,
        },
        vmId,
      );
    },
    60,
  );
  return vmId;
}

/** How many failed boot probes between two checks that the VM still runs. */
const STOPPED_CHECK_EVERY = 10;
/** Power states a guest that was running reaches only by stopping (never `unknown`: transient). */
const HALTED = new Set<PowerState>(['stopping', 'stopped', 'deallocating', 'deallocated']);

/**
 * Boot: until the guest answers HTTP at all; probe: until it answers the expected status.
 * Without a public IP the probe cannot reach it from here: boot ends when the VM runs.
 */
export function* bootAndProbe(
  s: RecoverySaga,
  input: RecoveryJobInput,
  vmId: string,
): Gen<VmInstanceView> {
  const { probe } = input.settings;
  const deadline = s.now().getTime() + probe.timeoutSeconds * 1000;
  // A VM that does not come up (past the deadline, or stopped while booting) fails the job with
  // the end of its serial console, read before the compensation deletes the VM: what an operator
  // needs to see why.
  const failWithConsole = function* (message: string): Gen<never> {
    const tail = (yield s.call(ArmActivity.consoleTail, { id: vmId })) as string | null;
    throw new SagaFailure(
      message +
        (tail ? " The end of its serial console is in the job's result (bootDiagnostics)." : ''),
      tail ? { bootDiagnostics: tail } : {},
    );
  };
  const late = function* (what: string, note?: string): Gen<void> {
    if (s.now().getTime() < deadline) return;
    yield* failWithConsole(
      `The recovered VM did not ${what} within ${probe.timeoutSeconds} s${note ? ` (${note})` : ''}.`,
    );
  };
  let view: VmInstanceView | null = null;
  let first: ProbeResult | undefined;
  yield* s.step(
    Step.boot,
    function* () {
      for (;;) {
        view = (yield s.call(ArmActivity.instanceView, { id: vmId })) as VmInstanceView | null;
        if (view?.powerState === 'running') break;
        yield* late('start');
        yield* s.sleep(s.facts.pollMs);
      }
      if (!view.publicIps[0]) return;
      for (let tries = 1; ; tries++) {
        first = (yield s.call(A.probe, {
          url: probeUrl(view.publicIps[0], probe),
          timeoutMs: 2000,
        })) as ProbeResult;
        if (first.connected) return;
        yield* late('boot');
        // A guest that powered off while booting (a panic, no root filesystem) does not come
        // back: the job fails now, not at the deadline. Every tenth try (ARM reads are
        // throttled per subscription, and a plan boots many VMs at once).
        if (tries % STOPPED_CHECK_EVERY === 0) {
          const now = (yield s.call(ArmActivity.instanceView, {
            id: vmId,
          })) as VmInstanceView | null;
          if (!now || HALTED.has(now.powerState)) {
            yield* failWithConsole(
              `The recovered VM stopped while booting (power state '${now?.powerState ?? 'deleted'}').`,
            );
          }
        }
        yield* s.sleep(s.facts.pollMs);
      }
    },
    75,
  );
  const v = view as VmInstanceView | null;
  if (!v?.publicIps[0]) {
    yield s.skip(Step.probe, 'no public IP: the probe cannot reach the VM from the control plane');
    return v ?? { powerState: 'unknown', privateIps: [], publicIps: [] };
  }
  const url = probeUrl(v.publicIps[0], probe);
  yield* s.step(
    Step.probe,
    function* () {
      let r = first!;
      while (r.status !== probe.expectedStatus) {
        yield* late(
          `answer ${probe.expectedStatus} at ${probe.path}`,
          `its last answer: ${r.connected ? `HTTP ${r.status}` : 'no connection'}`,
        );
        yield* s.sleep(s.facts.pollMs);
        r = (yield s.call(A.probe, { url, timeoutMs: 2000 })) as ProbeResult;
      }
    },
    90,
  );
  return v;
}

const probeUrl = (ip: string, p: RecoverySettings['probe']) => `http://${ip}:${p.port}${p.path}`;

/** The whole bring-up: network, disks (in parallel with the network), VM, boot, probe. */
export function* bringUp(
  s: RecoverySaga,
  input: RecoveryJobInput,
  point: ResolvedPoint,
  test: boolean,
): Gen<DeployedVm> {
  const names = recoveryNames(s.jobId, input.machineId);
  const [net, diskIds] = (yield* s.all<unknown>([
    networkStep(s, input, test),
    diskStep(s, input, point),
  ])) as [NetworkParts, string[]];
  const vmId = yield* vmStep(s, input, names.vm, diskIds, net.nicId);
  const view = yield* bootAndProbe(s, input, vmId);
  return {
    jobId: s.jobId,
    pointId: point.id,
    pointTime: point.time,
    resourceGroup: input.settings.resourceGroup,
    vmId,
    nicId: net.nicId,
    ...(net.publicIpId ? { publicIpId: net.publicIpId } : {}),
    ...(net.nsgId ? { nsgId: net.nsgId } : {}),
    createdNsg: net.createdNsg,
    diskIds,
    vnetId: net.vnetId,
    subnetId: net.subnetId,
    createdVnet: net.createdVnet,
    ...((view.privateIps[0] ?? net.privateIp)
      ? { privateIp: view.privateIps[0] ?? net.privateIp }
      : {}),
    ...(view.publicIps[0] ? { publicIp: view.publicIps[0] } : {}),
    readyAt: s.now().toISOString(),
  };
}
