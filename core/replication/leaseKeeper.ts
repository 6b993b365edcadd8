import { conflict } from '../errors';

/**
 * Renews a drain's leases in the background every `everyMs`, so one slow batch (hundreds of
 * scattered page writes on a loaded account) cannot outlive the lease between two renewals.
 * A failed renewal means another hydrator may own the replica now: `check()` then throws, and
 * every write already carries the lease id, so the service refuses them anyway.
 */
export class LeaseKeeper {
  private timer?: ReturnType<typeof setInterval>;
  private renewing?: Promise<void>;
  private lost?: Error;

  constructor(
    private readonly renew: () => Promise<void>,
    private readonly everyMs: number,
  ) {}

  start(): this {
    this.timer = setInterval(() => {
      if (this.renewing || this.lost) return;
      this.renewing = this.renew()
        .catch((e: unknown) => {
          this.lost = e as Error;
        })
        .finally(() => {
          this.renewing = undefined;
        });
    }, this.everyMs);
    this.timer.unref?.();
    return this;
  }

  /** Throws `conflict` once a renewal failed. */
  check(): void {
    if (this.lost) throw conflict(`The replica lease was lost: ${this.lost.message}`);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
  }
}
