import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import type { ResourceView } from '../core/recovery/ports';
import { armId, recoveryNames, subnetIdOf } from '../core/recovery/resourceNames';
import { chooseStaticIp, type RecoverySettings } from '../core/recovery/settings';
import { ArmActivity } from './activities/armActivities';
import type { Gen, RecoverySaga } from './recoverySaga';

/** Tags on everything a recovery job makes: the operator's, plus the machine and the job. */
export const tagsOf = (
  s: RecoverySaga,
  input: RecoveryJobInput,
  extra: Record<string, string> = {},
) => ({
  ...input.settings.tags,
  'haven-machine': input.machineId,
  'haven-job': s.jobId,
  ...extra,
});

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
      // The group is kept (other recoveries use it); made only when missing, since a PUT of an
      // existing group with another location is refused by Azure.
      const rgId = `${sub}/resourceGroups/${rg}`;
      if (!((yield s.call(ArmActivity.get, { id: rgId })) as ResourceView | null))
        yield* s.put(
          { type: 'Microsoft.Resources/resourceGroups', name: rg, location: st.location },
          rgId,
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
