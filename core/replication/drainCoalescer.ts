import type { DiskKey } from './names';

interface Running<T> {
  joined: boolean;
  done: Promise<T>;
}

/**
 * One drain per disk in this process. A trigger for a disk this process is already draining
 * joins that drain instead of paying a storage request to learn that the replica is leased
 * ("busy"): an initial sync stages a batch every few hundred ms while one drain runs for
 * seconds (23 of 26 triggers of a 2 GiB sync answered busy, one replica HEAD each). The running
 * drain asks `joined()` after its last look for a next batch and looks again if anyone joined
 * since, so a batch staged just after that look is not left to the sweep. A `false` answer
 * ends the run there and then: a trigger after it starts a drain of its own.
 */
export class DrainCoalescer<T> {
  private readonly running = new Map<string, Running<T>>();

  /** Runs `drain` for the disk, or joins the run in progress; `joined` says which happened. */
  async run(
    key: DiskKey,
    drain: (joined: () => boolean) => Promise<T>,
  ): Promise<{ outcome: T; joined: boolean }> {
    const id = `${key.machineId}/${key.diskId}/${key.generation}`;
    const current = this.running.get(id);
    if (current) {
      current.joined = true;
      return { outcome: await current.done, joined: true };
    }
    const entry: Running<T> = { joined: false, done: Promise.resolve(undefined as T) };
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
    entry.done = drain(joined).finally(leave);
    return { outcome: await entry.done, joined: false };
  }
}
