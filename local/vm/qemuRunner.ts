import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { platformStatus } from './platform';
import { qmpCommand } from './qmpClient';
import {
  VmPlatformUnavailable,
  type VmLaunchSpec,
  type VmProcessState,
  type VmRunner,
} from './types';
import { findTool } from '../setup/requireTool';

const execFileP = promisify(execFile);

export interface QemuVmRunnerOptions {
  /** One directory per guest below it: pid file, QMP socket, QEMU's own log, the spec. */
  stateDir: string;
  /** The platform cache (see platform.ts); default its default. */
  platformDir?: string;
  /**
   * Guest memory when a spec asks for none. 128 MiB: the cloud kernel and a busybox server boot
   * in 96 MiB too, 128 leaves the guest room for its page cache.
   */
  defaultMemoryMiB?: number;
  log?: (line: string) => void;
}

export const DEFAULT_VM_MEMORY_MIB = 128;

/**
 * Runs local VMs as QEMU guests under TCG (no KVM here). QEMU daemonizes, so guests outlive
 * the stack process the way Azure VMs outlive a control-plane restart; `recover` adopts them
 * again and the stack's ARM endpoint decides when they stop (`stopAll` at the latest).
 *
 * Disks use `cache=writeback`: QEMU tells the guest its disk has a volatile write cache, so the
 * guest's `sync` (and every ext4 journal commit) sends a flush, which QEMU turns into an
 * fdatasync of the image file: what the guest synced is durable on the host. Every write is in
 * the host page cache at once, so a copy or snapshot of the file sees it. (`unsafe` ignores
 * flushes; `writethrough` syncs every write, far slower for nothing more.)
 * NICs are user-mode with `restrict=on`: the guest reaches nothing on the host or beyond; only
 * the forwarded ports at its public (loopback) address reach it, as an NSG would allow.
 */
export class QemuVmRunner implements VmRunner {
  private readonly log: (line: string) => void;
  constructor(private readonly opts: QemuVmRunnerOptions) {
    this.log = opts.log ?? (() => {});
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  }

  private dirOf(id: string): string {
    return join(this.opts.stateDir, createHash('sha256').update(id).digest('hex').slice(0, 16));
  }

  /** `-name` carries the guest's key, so a pid is ours only if its command line says so. */
  private nameOf(id: string): string {
    return `haven-vm-${this.dirOf(id).slice(-16)}`;
  }

  private livePid(id: string): number | undefined {
    const pidFile = join(this.dirOf(id), 'qemu.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      // The pid may have been reused since: it is ours only if it is a QEMU whose command line
      // carries this guest's name (a zombie has an empty one).
      if (!basename(readlinkSync(`/proc/${pid}/exe`)).startsWith('qemu-system')) return undefined;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(this.nameOf(id)) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private qmpOf(id: string): string {
    return join(this.dirOf(id), 'qmp.sock');
  }

  state(id: string): VmProcessState {
    return this.livePid(id) ? 'running' : 'stopped';
  }

  private args(spec: VmLaunchSpec, dir: string, kernel: string, initrd: string): string[] {
    const args = [
      '-name',
      this.nameOf(spec.id),
      // q35 and pc boot these guests in the same CPU time under TCG (measured): q35 is the
      // modern one (PCIe, as Azure's generation 2 VMs).
      '-machine',
      'q35',
      '-m',
      String(spec.memoryMiB || this.opts.defaultMemoryMiB || DEFAULT_VM_MEMORY_MIB),
      '-smp',
      String(Math.max(1, spec.cpus)),
      '-display',
      'none',
      '-no-reboot',
      '-daemonize',
      '-pidfile',
      join(dir, 'qemu.pid'),
      // A log file also keeps the daemon's stderr (QEMU points it there instead of /dev/null).
      '-D',
      join(dir, 'qemu.log'),
      '-qmp',
      `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
      '-chardev',
      `file,id=serial0,path=${spec.serialLogPath},append=on`,
      '-serial',
      'chardev:serial0',
      '-kernel',
      kernel,
      '-initrd',
      initrd,
      '-append',
      'console=ttyS0 quiet panic=-1',
    ];
    for (const disk of spec.disks) {
      args.push('-drive', `file=${disk},format=raw,if=virtio,cache=writeback,discard=unmap`);
    }
    spec.nics.forEach((nic, i) => {
      const forwards = nic.publicIp
        ? nic.tcpPorts.map((p) => `,hostfwd=tcp:${nic.publicIp}:${p}-:${p}`).join('')
        : '';
      args.push(
        '-netdev',
        `user,id=n${i},restrict=on,net=${nic.subnet},host=${gatewayOf(nic.subnet)},dhcpstart=${nic.privateIp}${forwards}`,
        '-device',
        `virtio-net-pci,netdev=n${i},mac=${nic.mac}`,
      );
    });
    return args;
  }

  async start(spec: VmLaunchSpec): Promise<void> {
    if (this.livePid(spec.id)) return;
    const status = platformStatus({ cacheDir: this.opts.platformDir });
    const qemu = findTool('qemu-system-x86_64');
    if (!status.ready || !status.platform || !qemu) {
      throw new VmPlatformUnavailable(
        `This host cannot run VMs: missing ${status.missing.join('; ')}. Fix: ${status.fix ?? 'npm run setup (as root)'}.`,
      );
    }
    const dir = this.dirOf(spec.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mkdirSync(dirname(spec.serialLogPath), { recursive: true });
    rmSync(join(dir, 'qmp.sock'), { force: true });
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec, null, 2), { mode: 0o600 });
    const args = this.args(spec, dir, status.platform.kernel, status.platform.initrd);
    try {
      await execFileP(qemu, args, { timeout: 30_000 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(
        `QEMU did not start VM '${spec.name}': ${(err.stderr || err.message).trim()}`,
      );
    }
    this.log(`vm ${spec.name} started (pid ${this.livePid(spec.id) ?? '?'})`);
  }

  async stop(id: string, opts: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const pid = this.livePid(id);
    if (!pid) return;
    const qmp = this.qmpOf(id);
    if (opts.graceful) {
      // The ACPI power button: a guest that handles it shuts down cleanly within the timeout.
      await qmpCommand(qmp, 'system_powerdown').catch(() => undefined);
      if (await exited(pid, opts.timeoutMs ?? 3_000)) return;
    }
    await qmpCommand(qmp, 'quit').catch(() => undefined);
    if (await exited(pid, 5_000)) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited(pid, 5_000);
  }

  /**
   * Adopts each guest whose QEMU still runs and answers on its QMP socket; one that runs but
   * does not answer is hung and is killed; the others are started again from their spec.
   */
  async recover(
    specs: VmLaunchSpec[],
  ): Promise<{ id: string; outcome: 'adopted' | 'restarted' | 'failed'; error?: string }[]> {
    const out = [];
    for (const spec of specs) {
      try {
        if (this.livePid(spec.id)) {
          const status = await qmpCommand(this.qmpOf(spec.id), 'query-status').catch(() => null);
          if (status) {
            out.push({ id: spec.id, outcome: 'adopted' as const });
            continue;
          }
          this.log(`vm ${spec.name}: QEMU runs but its monitor does not answer; restarting it`);
          await this.stop(spec.id);
        }
        await this.start(spec);
        out.push({ id: spec.id, outcome: 'restarted' as const });
      } catch (e) {
        out.push({ id: spec.id, outcome: 'failed' as const, error: (e as Error).message });
      }
    }
    return out;
  }

  async stopAll(): Promise<void> {
    if (!existsSync(this.opts.stateDir)) return;
    const ids = readdirSync(this.opts.stateDir)
      .map((d) => join(this.opts.stateDir, d, 'spec.json'))
      .filter((f) => existsSync(f))
      .map((f) => (JSON.parse(readFileSync(f, 'utf8')) as VmLaunchSpec).id);
    await Promise.all(ids.map((id) => this.stop(id)));
  }
}

/** The subnet's first host address: Azure's default gateway, so QEMU's virtual host sits there. */
function gatewayOf(cidr: string): string {
  const [net = '', bits = '24'] = cidr.split('/');
  const n = net.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const gw = n - (n % size) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(gw / 2 ** s) % 256).join('.');
}

/** Waits until `pid` is gone (it is not our child, so no 'exit' event: /proc is the truth). */
async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!existsSync(`/proc/${pid}`)) return true;
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return true;
    } catch {
      return true;
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
