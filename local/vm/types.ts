/**
 * What the local ARM endpoint (`local/arm/`) asks of the VM runner (`local/vm/`): run a virtual
 * machine as a real QEMU guest (TCG, no KVM) that boots its managed disks with the platform's
 * kernel and initramfs. The ARM endpoint owns resource state; the runner owns processes.
 */

export interface VmNic {
  mac: string;
  /** Subnet CIDR, e.g. 10.20.1.0/24: the guest's DHCP hands out `privateIp` in it. */
  subnet: string;
  privateIp: string;
  /** A loopback address (127.x.y.z) standing for the NIC's public IP; absent = none. */
  publicIp?: string;
  /** TCP ports reachable at `publicIp` (what the NSGs allow inbound), forwarded to the guest. */
  tcpPorts: number[];
}

export interface VmLaunchSpec {
  /** The ARM VM resource id: stable across restarts of the stack. */
  id: string;
  /** Guest hostname hint and log prefix. */
  name: string;
  memoryMiB: number;
  cpus: number;
  /** Raw disk image files: OS disk first, then data disks in LUN order. The guest writes them. */
  disks: string[];
  nics: VmNic[];
  /** The serial console is appended here (boot diagnostics). */
  serialLogPath: string;
}

export type VmProcessState = 'running' | 'stopped';

export interface VmRunner {
  /** Starts the guest; resolves once QEMU runs (not once the guest has booted). */
  start(spec: VmLaunchSpec): Promise<void>;
  /** Graceful (ACPI power button, then kill after `timeoutMs`) or immediate stop; idempotent. */
  stop(id: string, opts?: { graceful?: boolean; timeoutMs?: number }): Promise<void>;
  state(id: string): VmProcessState;
  /**
   * After a restart of the stack: guests whose QEMU is still alive are adopted, the others are
   * started again from their specs. Returns what happened to each.
   */
  recover(
    specs: VmLaunchSpec[],
  ): Promise<{ id: string; outcome: 'adopted' | 'restarted' | 'failed'; error?: string }[]>;
  /** Stops every guest (stack shutdown with `keepRunning: false`). */
  stopAll(): Promise<void>;
}

/**
 * Thrown by `start` when the host cannot run VMs (QEMU, the platform kernel or initramfs
 * missing); the message says what to install. The ARM endpoint turns it into a failed
 * operation with code `VMPlatformUnavailable`, never a fake "running".
 */
export class VmPlatformUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VmPlatformUnavailable';
  }
}
