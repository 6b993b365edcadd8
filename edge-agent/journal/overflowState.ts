import { HEADER_BYTES } from './records';

/**
 * When journaling stops and resumes (rule 5): it stops when unreleased bytes would pass the
 * capacity (the sender is behind) and resumes once they fall below `resumeBelowBytes` and
 * every guard agrees (no unjournaled write in flight). Only the decisions and the once-per-
 * overflow disk sync live here; the journal appends the Overflow and Resync records.
 */
export class OverflowState {
  stopped = false;
  private readonly guards: Array<() => boolean> = [];
  /** Set while journaling is stopped: every journaled record made durable on the disks. */
  private preSync?: Promise<void>;

  constructor(
    readonly capacityBytes: number,
    readonly resumeBelowBytes: number,
  ) {}

  /** Would a record of `payload` bytes fit beside `retained`? */
  fits(retained: number, payload: number): boolean {
    return retained + HEADER_BYTES + payload <= this.capacityBytes;
  }

  addGuard(g: () => boolean): void {
    this.guards.push(g);
  }

  /** Resumes (true) when there is room again and every guard agrees. */
  tryResume(retained: number): boolean {
    if (!this.stopped || retained >= this.resumeBelowBytes) return false;
    if (!this.guards.every((g) => g())) return false;
    this.stopped = false;
    this.preSync = undefined;
    return true;
  }

  /** Runs `sync` once per overflow; every unjournaled write of that overflow waits for it. */
  syncOnce(sync: () => Promise<void>): Promise<void> {
    this.preSync ??= sync();
    return this.preSync;
  }
}
