/**
 * Coalesces durability requests: callers that arrive while a sync runs share the *next* sync
 * (the running one may have started before their writes), so N concurrent FLUSH/FUA cost at
 * most two fdatasyncs instead of N.
 */
export class GroupCommit {
  private running?: Promise<void>;
  private next?: Promise<void>;
  syncs = 0;

  constructor(private readonly doSync: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) {
      this.syncs++;
      this.running = this.doSync().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    if (!this.next) {
      this.next = this.running
        .catch(() => undefined)
        .then(() => {
          this.next = undefined;
          return this.request();
        });
    }
    return this.next;
  }
}
