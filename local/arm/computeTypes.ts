/** The Microsoft.Compute types the local endpoint serves. */
export const VM = 'Microsoft.Compute/virtualMachines';
export const DISK = 'Microsoft.Compute/disks';
export const SNAPSHOT = 'Microsoft.Compute/snapshots';
