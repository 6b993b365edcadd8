/** Bytes acknowledged per second, smoothed over about `windowMs` (the sender feeds it). */
export class SendRate {
  private rate = 0;
  private last?: number;

  constructor(private readonly windowMs = 10_000) {}

  record(bytes: number, now = Date.now()): void {
    if (this.last === undefined) {
      this.last = now;
      return;
    }
    const dt = Math.max(1, now - this.last);
    this.last = now;
    // Exponentially weighted by time: a burst after a pause does not look like a steady rate.
    const w = Math.min(1, dt / this.windowMs);
    this.rate = this.rate * (1 - w) + (bytes / (dt / 1000)) * w;
  }

  /** The current rate; decays while nothing is acknowledged. */
  perSecond(now = Date.now()): number {
    if (this.last === undefined) return 0;
    const idle = now - this.last;
    return idle > this.windowMs ? this.rate * (this.windowMs / idle) : this.rate;
  }
}

/** Promised RPOs are capped here: a stalled sender promises "a day", not infinity. */
const MAX_PROMISE_SECONDS = 86_400;

/**
 * The agent's replication report (heartbeat): bytes cut but not yet acknowledged, the send
 * rate, and the RPO it can promise at that rate: draining the backlog, plus one bookmark
 * interval (the next cut), plus how long the oldest unsent change has waited already.
 */
export function replicationReport(p: {
  backlogBytes: number;
  sendBytesPerSecond: number;
  bookmarkIntervalSeconds: number;
}): { backlogBytes: number; sendBytesPerSecond: number; promisedRpoSeconds: number } {
  const drain =
    p.backlogBytes === 0
      ? 0
      : p.sendBytesPerSecond > 0
        ? p.backlogBytes / p.sendBytesPerSecond
        : MAX_PROMISE_SECONDS;
  return {
    backlogBytes: p.backlogBytes,
    sendBytesPerSecond: Math.round(p.sendBytesPerSecond),
    promisedRpoSeconds: Math.min(
      MAX_PROMISE_SECONDS,
      Math.round((drain + p.bookmarkIntervalSeconds) * 10) / 10,
    ),
  };
}
