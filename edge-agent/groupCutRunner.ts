import type { AgentSettings } from './agentState';
import type { Log } from './agentTypes';
import type { ChangeSource } from './changeSource';
import type { ControlPlaneClient } from './controlPlaneClient';
import { sleep } from './fsUtil';
import {
  planCut,
  refineClock,
  stillBarrier,
  type CutPlan,
  type GroupCut,
  type GroupCuts,
  type PeerClock,
} from './groupCuts';
import { withFreezeHooks } from './hookedBookmark';

/**
 * Consistency-group cuts on the agent side: polls the control plane for this machine's cuts,
 * keeps an estimate of the control plane's clock, and inserts each cut at its moment with the
 * write barrier when the source can hold writes (docs/consistencyGroups.md).
 */
export class GroupCutRunner {
  private polling = false;
  private controlPlaneClock?: PeerClock & { at: number };

  constructor(
    private readonly api: ControlPlaneClient,
    private readonly machineId: string,
    private readonly source: ChangeSource,
    private readonly settings: AgentSettings,
    private readonly groupCuts: GroupCuts,
    private readonly log: Log,
  ) {}

  /** Inserts the consistency-group cuts the control plane has for this machine (each once). */
  async poll(signal: AbortSignal): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let cuts: GroupCut[] = [];
    let next = 0;
    try {
      const polled = await this.api.groupBookmarks(this.machineId);
      this.controlPlaneClock = refineClock(this.controlPlaneClock, polled.clock, Date.now());
      cuts = this.groupCuts.take(polled.cuts);
      for (const c of cuts) {
        await this.tightenClock(c, signal);
        const plan = planCut(c, this.controlPlaneClock, Date.now());
        const barrier = plan.holdMs > 0 && this.source.holdWrites !== undefined;
        this.log('group cut', {
          bookmarkId: c.id,
          groupId: c.groupId,
          inMs: Math.round(plan.at - Date.now()),
          barrier,
          ...('notBarrier' in plan ? { why: plan.notBarrier } : {}),
        });
        await this.insertGroupCut(c, plan, signal, () => next++);
      }
    } finally {
      // Cuts not requested (a freeze hook failed): the next poll takes them again.
      for (const left of cuts.slice(next)) this.groupCuts.release(left.id);
      this.polling = false;
    }
  }

  /**
   * Before a timed cut, while the estimate of the control plane's clock is looser than a quarter
   * of the hold: a few more samples (a busy host answers some polls slowly; the fastest counts).
   */
  private async tightenClock(c: GroupCut, signal: AbortSignal): Promise<void> {
    if (!c.cutAt || !c.holdMs) return;
    for (let i = 0; i < 8 && !signal.aborted; i++) {
      const clock = this.controlPlaneClock;
      // A quarter of the hold: the other quarter of this member's half is for a late timer.
      if (clock && clock.uncertaintyMs * 4 <= c.holdMs) return;
      // A sample takes a round trip: none that could end after the cut.
      const left = Date.parse(c.cutAt) - (clock?.offsetMs ?? 0) - Date.now();
      if (left < 200 + 2 * (clock?.uncertaintyMs ?? 0)) return;
      const { clock: sample } = await this.api.groupBookmarks(this.machineId);
      this.controlPlaneClock = refineClock(this.controlPlaneClock, sample, Date.now());
      await sleep(100, signal);
    }
  }

  private async insertGroupCut(
    c: GroupCut,
    plan: CutPlan,
    signal: AbortSignal,
    requested: () => void,
  ): Promise<void> {
    await withFreezeHooks(this.settings, c.consistency === 'app', async () => {
      await sleep(plan.at - Date.now(), signal);
      if (signal.aborted) return; // not requested: the next run takes the cut again
      // Same turn: writes stop, then the cut goes in, so no write falls between the two.
      const held = stillBarrier(plan, Date.now());
      if (plan.holdMs > 0 && !held)
        this.log('group cut fired late: not a barrier', {
          bookmarkId: c.id,
          lateMs: Date.now() - plan.at,
        });
      const release = held ? this.source.holdWrites?.() : undefined;
      let decided: Promise<void>;
      try {
        decided = this.source.requestBookmark({
          id: c.id,
          consistency: c.consistency,
          groupId: c.groupId,
          ...(release ? { barrier: true } : {}),
        });
      } finally {
        if (release) setTimeout(release, plan.holdMs);
      }
      requested();
      await decided;
    });
  }
}
