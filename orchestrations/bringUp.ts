import type { DeployedVm } from '../core/recovery/model';
import type { CandidatePoint } from '../core/recovery/pointChoice';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import type { ResourceView, VmInstanceView } from '../core/recovery/ports';
import { armId, recoveryNames, subnetIdOf } from '../core/recovery/resourceNames';
import { chooseStaticIp, type RecoverySettings } from '../core/recovery/settings';
import { ArmActivity } from './activities/armActivities';
import {
  RecoveryActivity as A,
  type MaterializeRound,
  type ProbeResult,
  type ResolvedPoint,
} from './activities/recoveryActivities';
import type { Gen, RecoverySaga } from './recoverySaga';

/**
 * The steps that bring a machine up in Azure from a recovery point, shared by test failover,
 * failover and change of recovery point (not sagas themselves: each saga composes them and
 * owns the compensation stack they push onto).
 */

const tagsOf = (s: RecoverySaga, input: RecoveryJobInput, extra: Record<string, string> = {}) => ({
  ...input.settings.tags,
  'haven-machine': input.machineId,
  'haven-job': s.jobId,
  ...extra,
});

/**
 * Point wait: the chosen point (for `latest` the newest durable one) is driven to materialized,
 * one round per activity with a durable timer between rounds, bounded by `latestWaitMs`.
 */
export function* pointStep(
  s: RecoverySaga,
  input: RecoveryJobInput,
  choice: string,
): Gen<ResolvedPoint> {
  return yield* s.step(
    Step.point,
    function* () {
      const deadline = s.now().getTime() + s.facts.latestWaitMs;
      const chosen = (yield s.call(A.resolvePoint, {
        machineId: input.machineId,
        choice,
      })) as CandidatePoint;
      for (;;) {
        const m = (yield s.call(A.materialize, {
          machineId: input.machineId,
          pointId: chosen.id,
        })) as MaterializeRound;
        if (m.state === 'materialized') return m.point;
        if (m.state === 'failed')
          throw new Error(
            `Recovery point '${chosen.id}' cannot be materialized: ${m.reason ?? 'unknown'}; choose another.`,
          );
        if (s.now().getTime() >= deadline)
          throw new Error(`Recovery point '${chosen.id}' was not materialized in time.`);
        yield* s.sleep(s.facts.pollMs);
      }
    },
    5,
  );
}

export interface NetworkParts {
  vnetId: string;
  subnetId: string;
  createdVnet: boolean;
  nsgId?: string;
  createdNsg: boolean;
  publicIpId?: string;
  nicId: string;
  privateIp?: string;
}

/** Resource group, vnet (test: the isolated one), NSG, public IP, NIC. */
export function* networkStep(
  s: RecoverySaga,
  input: RecoveryJobInput,
  test: boolean,
): Gen<NetworkParts> {
  const st: RecoverySettings = input.settings;
  const names = recoveryNames(s.jobId, input.machineId);
  const sub = s.facts.subscriptionPath;
  const rg = st.resourceGroup;
  const id = (type: string, name: string) => armId(sub, rg, type, name);
  const tags = tagsOf(s, input);
  return yield* s.step(
    Step.network,
    function* () {
      yield* s.put(
        { type: 'Microsoft.Resources/resourceGroups', name: rg, location: st.location },
        `${sub}/resourceGroups/${rg}`,
        true,
      );
      // The vnet, the NSG and the public IP side by side: each only needs the group.
      const vnet = function* (): Gen<{
        vnetId: string;
        subnetId: string;
        prefix: string;
        createdVnet: boolean;
      }> {
        if (!test && st.subnetId) {
          const subnetId = st.subnetId;
          const view = (yield s.call(ArmActivity.get, { id: subnetId })) as ResourceView | null;
          if (!view) throw new Error(`The failover subnet '${subnetId}' does not exist.`);
          const prefix = String(view.properties.addressPrefix ?? '');
          return {
            vnetId: subnetId.replace(/\/subnets\/[^/]+$/, ''),
            subnetId,
            prefix,
            createdVnet: false,
          };
        }
        const net = test ? st.testNetwork : st.failoverNetwork;
        const vnetId = id('Microsoft.Network/virtualNetworks', net.name);
        const exists = (yield s.call(ArmActivity.get, { id: vnetId })) as ResourceView | null;
        if (!exists)
          yield* s.put(
            {
              type: 'Microsoft.Network/virtualNetworks',
              resourceGroup: rg,
              name: net.name,
              location: st.location,
              tags: { ...tags, 'haven-network': test ? 'test' : 'failover' },
              addressPrefixes: [net.addressPrefix],
              subnets: [{ name: 'default', addressPrefix: net.addressPrefix }],
            },
            vnetId,
          );
        return {
          vnetId,
          subnetId: subnetIdOf(vnetId, 'default'),
          prefix: net.addressPrefix,
          createdVnet: !exists,
        };
      };
      const nsgId = st.nsgId ?? id('Microsoft.Network/networkSecurityGroups', names.nsg);
      const publicIpId = st.publicIp
        ? id('Microsoft.Network/publicIPAddresses', names.publicIp)
        : undefined;
      const side: Gen<unknown>[] = [vnet()];
      if (!st.nsgId)
        side.push(
          s.put(
            {
              type: 'Microsoft.Network/networkSecurityGroups',
              resourceGroup: rg,
              name: names.nsg,
              location: st.location,
              tags,
              rules: [
                {
                  name: 'haven-probe',
                  priority: 100,
                  direction: 'Inbound',
                  access: 'Allow',
                  protocol: 'Tcp',
                  destinationPortRange: String(st.probe.port),
                  sourceAddressPrefix: '*',
                },
              ],
            },
            nsgId,
          ),
        );
      if (publicIpId)
        side.push(
          s.put(
            {
              type: 'Microsoft.Network/publicIPAddresses',
              resourceGroup: rg,
              name: names.publicIp,
              location: st.location,
              tags,
              sku: 'Standard',
            },
            publicIpId,
          ),
        );
      const [{ vnetId, subnetId, prefix, createdVnet }] = (yield* s.all(side)) as [
        { vnetId: string; subnetId: string; prefix: string; createdVnet: boolean },
      ];
      const privateIp = chooseStaticIp(st.privateIp, prefix, input.sourceIps);
      const nicId = id('Microsoft.Network/networkInterfaces', names.nic);
      const nic = yield* s.put(
        {
          type: 'Microsoft.Network/networkInterfaces',
          resourceGroup: rg,
          name: names.nic,
          location: st.location,
          tags,
          subnetId,
          ...(privateIp ? { privateIp } : {}),
          ...(publicIpId ? { publicIpId } : {}),
          networkSecurityGroupId: nsgId,
        },
        nicId,
      );
      const ip = nic?.properties.privateIp;
      return {
        vnetId,
        subnetId,
        createdVnet,
        nsgId,
        createdNsg: !st.nsgId,
        ...(publicIpId ? { publicIpId } : {}),
        nicId,
        ...(typeof ip === 'string' ? { privateIp: ip } : {}),
      } satisfies NetworkParts;
    },
    15,
  );
}

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
  const late = (what: string) => {
    if (s.now().getTime() >= deadline)
      throw new Error(`The recovered VM did not ${what} within ${probe.timeoutSeconds} s.`);
  };
  let view: VmInstanceView | null = null;
  let first: ProbeResult | undefined;
  yield* s.step(
    Step.boot,
    function* () {
      for (;;) {
        view = (yield s.call(ArmActivity.instanceView, { id: vmId })) as VmInstanceView | null;
        if (view?.powerState === 'running') break;
        late('start');
        yield* s.sleep(s.facts.pollMs);
      }
      if (!view.publicIps[0]) return;
      for (;;) {
        first = (yield s.call(A.probe, {
          url: probeUrl(view.publicIps[0], probe),
          timeoutMs: 2000,
        })) as ProbeResult;
        if (first.connected) return;
        late('boot');
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
        late(`answer ${probe.expectedStatus} at ${probe.path}`);
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
