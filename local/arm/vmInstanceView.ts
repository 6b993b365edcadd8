import type { StoredResource } from './armStore';

/** A VM's instance view as ARM answers it: provisioning and power states; `live` when its guest runs. */
export function vmInstanceView(vm: StoredResource, live: boolean): Record<string, unknown> {
  const power = live ? 'running' : vm.local?.power === 'deallocated' ? 'deallocated' : 'stopped';
  const display = { running: 'VM running', stopped: 'VM stopped', deallocated: 'VM deallocated' }[
    power
  ];
  return {
    computerName: vm.name,
    statuses: [
      {
        code: `ProvisioningState/${String(vm.properties.provisioningState).toLowerCase()}`,
        level: 'Info',
        displayStatus: `Provisioning ${String(vm.properties.provisioningState).toLowerCase()}`,
      },
      {
        code: `PowerState/${power}`,
        level: 'Info',
        displayStatus: display,
        ...(vm.local?.statusMessage && !live ? { message: vm.local.statusMessage } : {}),
      },
    ],
  };
}
