import type { VmLaunchSpec, VmProcessState, VmRunner } from '../../local/vm/types';

/**
 * A VM runner with no QEMU, for tests of the local ARM endpoint and its clients that are about
 * ARM's behaviour rather than guests: it records what it was asked (launch specs, stops with
 * their gracefulness) and keeps each guest's state in memory. The end-to-end tests use
 * `QemuVmRunner` and real guests.
 */
export class FakeVmRunner implements VmRunner {
  readonly started: VmLaunchSpec[] = [];
  readonly stops: { id: string; graceful: boolean }[] = [];
  private readonly running = new Set<string>();

  async start(spec: VmLaunchSpec): Promise<void> {
    this.started.push(spec);
    this.running.add(spec.id.toLowerCase());
  }

  async stop(id: string, opts: { graceful?: boolean } = {}): Promise<void> {
    this.stops.push({ id, graceful: opts.graceful === true });
    this.running.delete(id.toLowerCase());
  }

  state(id: string): VmProcessState {
    return this.running.has(id.toLowerCase()) ? 'running' : 'stopped';
  }

  async recover(specs: VmLaunchSpec[]) {
    return Promise.all(
      specs.map(async (s) => {
        const adopted = this.running.has(s.id.toLowerCase());
        if (!adopted) await this.start(s);
        return { id: s.id, outcome: adopted ? ('adopted' as const) : ('restarted' as const) };
      }),
    );
  }

  async stopAll(): Promise<void> {
    this.running.clear();
  }
}
