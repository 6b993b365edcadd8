import type { DiskKey } from './names';

interface Running {
  joined: boolean;
}

/**
 * One drain per disk in this process. A trigger for a disk this process is already draining
 * joins that drain instead of paying a storage request to learn that the replica is leased
 * ("busy"): an initial sync stages a batch every few hundred ms while one drain runs for
 * seconds (23 of 26 triggers of a 2 GiB sync answered busy, one replica HEAD each). A trigger
 * that joins returns at once, as a "busy" one did: waiting for the drain would hold one of the
 * host's trigger slots for its whole run (the host dispatches a few blobs at a time). The running
 * drain asks `joined()` after its last look for a next batch and looks again if anyone joined
 * since, so a batch staged just after that look is not left to the sweep. A `false` answer
 * ends the run there and then: a trigger after it starts a drain of its own.
 */
export class DrainCoalescer<T> {
  private readonly running = new Map<string, Running>();

  /** Runs `drain` for the disk, or joins the run in progress (and leaves the work to it). */
  async run(
    key: DiskKey,
    drain: (joined: () => boolean) => Promise<T>,
  ): Promise<{ joined: true } | { joined: false; outcome: T }> {
    const id = `${key.machineId}/${key.diskId}/${key.generation}`;
    const current = this.running.get(id);
    if (current) {
      current.joined = true;
      return { joined: true };
    }
    const entry: Running = { joined: false };
    const leave = () => {
      if (this.running.get(id) === entry) this.running.delete(id);
    };
    const joined = () => {
      const was = entry.joined;
      entry.joined = false;
      // Leaving in the same turn as the answer: other promise chains run between the drain's
      // last look and its promise settling, and a trigger joining there would not be looked for.
      if (!was) leave();
      return was;
    };
    this.running.set(id, entry);
    try {
      return { joined: false, outcome: await drain(joined) };
    } finally {
      leave();
    }
  }
}
