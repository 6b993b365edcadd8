import type { Log } from './agentTypes';
import type { AgentDisk } from './changeSource';
import type { CloudDisk, ControlPlaneClient } from './controlPlaneClient';
import { GENERATION_POLL_MS, watchGenerations } from './generations';
import type { ResendWatch } from './resendWatch';

/**
 * The control plane's listing of the machine's disks, as the agent uses it: polled while it
 * replicates (a newer generation of a disk; how far Azure stored each, which lets the spool go
 * of the batches it kept and sends again what is missing), or asked once (`run --once`, after
 * its point is durable, so that it exits with nothing kept rather than the next run reading it
 * all back and checking its hashes before its first byte).
 */
export class DiskListing {
  constructor(
    private readonly api: ControlPlaneClient,
    private readonly machineId: string,
    private readonly disks: readonly AgentDisk[],
    /** Absent for a sink whose batches the control plane does not list (capture). */
    private readonly resends: ResendWatch | undefined,
    private readonly log: Log,
  ) {}

  /** Polls until the returned function is called; a disk's newer generation goes to `onGeneration`. */
  watch(onGeneration: (diskId: string, generation: number) => void): () => void {
    return watchGenerations(
      this.api,
      this.machineId,
      this.disks,
      GENERATION_POLL_MS,
      onGeneration,
      (cloud) => this.confirmStored(cloud),
    );
  }

  /**
   * Lets the spool go of what `cloud` (else a new listing) says is stored. A failed listing or
   * save of the spool's state: what it keeps stays kept, the next listing retries.
   */
  async confirmStored(cloud?: CloudDisk[]): Promise<void> {
    if (!this.resends) return;
    try {
      await this.resends.listed(cloud ?? (await this.api.listDisks(this.machineId)));
    } catch (e) {
      this.log('stored batches not recorded', { error: (e as Error).message });
    }
  }
}
