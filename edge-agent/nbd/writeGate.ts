/**
 * Holds new writes while closed, in arrival order: the barrier of a timed consistency-group cut
 * (edge-agent/groupCuts.ts planCut). Closes nest: it opens when every closer has opened it.
 */
export class WriteGate {
  private closers = 0;
  private opened?: Promise<void>;
  private open?: () => void;

  /** Closes the gate; the returned function opens it (once). */
  close(): () => void {
    if (this.closers++ === 0) this.opened = new Promise((r) => (this.open = r));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.closers > 0) return;
      const open = this.open!;
      this.opened = this.open = undefined;
      open();
    };
  }

  /** undefined while open; otherwise resolves when it opens. */
  get waiting(): Promise<void> | undefined {
    return this.opened;
  }
}
