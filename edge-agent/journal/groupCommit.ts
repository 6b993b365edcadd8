/**
 * Coalesces durability requests: callers that arrive while a sync runs share the *next* sync
 * (the running one may have started before their writes), so N concurrent FLUSH/FUA cost at
 * most two fdatasyncs instead of N. When the owner can tell that nothing was written since the
 * running sync started (`dirty`), a caller shares the running sync instead: fio (and a kernel
 * queue) send FLUSHes back to back, and without this every burst cost two syncs in series.
 */
export class GroupCommit {
  private running?: Promise<void>;
  private next?: Promise<void>;
  syncs = 0;

  constructor(
    private readonly doSync: () => Promise<void>,
    /**
     * True when data was written after the running sync was started (doSync called), so it
     * may not cover it. Called only while a sync runs; without it every caller that arrives
     * then waits for the next sync.
     */
    private readonly dirty: () => boolean = () => true,
  ) {}

  request(): Promise<void> {
    if (!this.running) {
      this.syncs++;
      this.running = this.doSync().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    if (!this.next && !this.dirty()) return this.running;
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
