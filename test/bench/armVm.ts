import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArmRecoveryTarget } from '../../adapters/arm/armRecoveryTarget';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { QemuVmRunner } from '../../local/vm/qemuRunner';
import { HTTP_FROM_ANYWHERE, put, uploadVhd } from '../support/armFixture';
import { waitFor } from '../support/waitFor';

const MiB = 1024 * 1024;
const LOCATION = 'local';

async function answers(ip: string): Promise<true | undefined> {
  try {
    const r = await fetch(`http://${ip}/health`, { signal: AbortSignal.timeout(2_000) });
    return r.ok ? true : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Seconds from create VM (imported bootable disk, NSG for port 80, public IP, NIC) to its
 * /health answering at the public IP, and from the runner starting the same image directly (no
 * ARM, no clients) to the same answer.
 */
export async function timeVmBoot(
  target: ArmRecoveryTarget,
  storage: string,
  arm: { storageAccountId?: string; stop(o?: { stopVms?: boolean }): Promise<void> },
  id: (type: string, name: string) => string,
): Promise<{ viaArm: number; direct: number }> {
  const rg = 'rg-bench';
  const work = mkdtempSync(join(tmpdir(), 'arm-bench-vm-'));
  try {
    const img = join(work, 'server.img');
    makeBootableServerImage(img, { sizeBytes: 32 * MiB, hostname: 'bench' });
    const uri = await uploadVhd(storage, 'replicas', 'server.vhd', readFileSync(img));
    const base = { resourceGroup: rg, location: LOCATION };
    await put(target, {
      ...base,
      type: 'Microsoft.Compute/disks',
      name: 'os',
      source: { kind: 'import', sourceUri: uri, storageAccountId: arm.storageAccountId! },
    });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/virtualNetworks',
      name: 'vnet',
      addressPrefixes: ['10.70.0.0/16'],
      subnets: [{ name: 'default', addressPrefix: '10.70.1.0/24' }],
    });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/networkSecurityGroups',
      name: 'nsg',
      rules: [HTTP_FROM_ANYWHERE],
    });
    await put(target, { ...base, type: 'Microsoft.Network/publicIPAddresses', name: 'pip' });
    await put(target, {
      ...base,
      type: 'Microsoft.Network/networkInterfaces',
      name: 'nic',
      subnetId: `${id('Microsoft.Network/virtualNetworks', 'vnet')}/subnets/default`,
      publicIpId: id('Microsoft.Network/publicIPAddresses', 'pip'),
      networkSecurityGroupId: id('Microsoft.Network/networkSecurityGroups', 'nsg'),
    });
    let t = performance.now();
    await put(target, {
      ...base,
      type: 'Microsoft.Compute/virtualMachines',
      name: 'vm',
      size: 'Standard_B1s',
      osType: 'Linux',
      osDiskId: id('Microsoft.Compute/disks', 'os'),
      dataDisks: [],
      networkInterfaceIds: [id('Microsoft.Network/networkInterfaces', 'nic')],
      bootDiagnostics: true,
    });
    const ip = (await target.instanceView(id('Microsoft.Compute/virtualMachines', 'vm')))
      .publicIps[0]!;
    await waitFor('the VM answers', () => answers(ip), { timeoutMs: 180_000, intervalMs: 100 });
    const viaArm = (performance.now() - t) / 1000;
    await arm.stop({ stopVms: true }); // one guest at a time on this machine
    // Baseline: the runner boots the same image directly, no ARM, no clients.
    const runner = new QemuVmRunner({ stateDir: join(work, 'runner') });
    const direct = `127.${64 + Math.floor(Math.random() * 64)}.${Math.floor(Math.random() * 256)}.9`;
    t = performance.now();
    await runner.start({
      id: 'bench-direct',
      name: 'bench-direct',
      memoryMiB: 160,
      cpus: 1,
      disks: [img],
      nics: [
        {
          mac: '52:54:00:12:34:56',
          subnet: '10.70.1.0/24',
          privateIp: '10.70.1.4',
          publicIp: direct,
          tcpPorts: [80],
        },
      ],
      serialLogPath: join(work, 'serial.log'),
    });
    await waitFor('the guest answers', () => answers(direct), {
      timeoutMs: 180_000,
      intervalMs: 100,
    });
    const bare = (performance.now() - t) / 1000;
    await runner.stopAll();
    return { viaArm, direct: bare };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
