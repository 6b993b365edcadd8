import type { StoredResource } from './armStore';

/** The Microsoft.Network types the local endpoint serves, and the reads of their stored links. */
export const VNET = 'Microsoft.Network/virtualNetworks';
export const SUBNET = 'Microsoft.Network/virtualNetworks/subnets';
export const NSG = 'Microsoft.Network/networkSecurityGroups';
export const PIP = 'Microsoft.Network/publicIPAddresses';
export const NIC = 'Microsoft.Network/networkInterfaces';

/** The local endpoint keeps exactly one IP configuration per NIC: these read the first. */
function firstIpConfig(nic: StoredResource): Record<string, unknown> | undefined {
  return (
    nic.properties.ipConfigurations as { properties: Record<string, unknown> }[] | undefined
  )?.[0]?.properties;
}

export function nicSubnet(nic: StoredResource): string | undefined {
  return (firstIpConfig(nic)?.subnet as { id?: string } | undefined)?.id;
}

export function nicIp(nic: StoredResource): string {
  return String(firstIpConfig(nic)!.privateIPAddress);
}

export function nicPublicIpId(nic: StoredResource): string | undefined {
  return (firstIpConfig(nic)!.publicIPAddress as { id?: string } | undefined)?.id;
}

/** The NSG a NIC or a subnet is attached to. */
export function nsgOf(r: StoredResource | undefined): string | undefined {
  return (r?.properties.networkSecurityGroup as { id?: string } | undefined)?.id;
}
