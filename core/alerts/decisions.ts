import { createHash } from 'node:crypto';
import type { Collection, DocumentStore } from '../documents/ports';
import { isHavenError, notFound } from '../errors';
import type { Approval, IgnoreReason, Signal } from './guards';
import {
  alertCollectionsDefs,
  type AlertReceiptDoc,
  type AlertTriggerDoc,
  type DecisionDoc,
  type TriggerStateDoc,
} from './model';

/** A decision's id (= its job id) from the trigger and the alert that opened it: retries agree. */
export const decisionIdFor = (trigger: string, receiptKey: string): string =>
  `dec-${createHash('sha256').update(`${trigger}\u0000${receiptKey}`).digest('hex').slice(0, 40)}`;

const retryable = (e: unknown) =>
  isHavenError(e) && (e.kind === 'precondition' || e.kind === 'conflict');

/**
 * A trigger's decisions: at most one open per trigger (its slot in `triggerStates`, claimed
 * with an ETag), later alerts join it as signals. Every write is read-modify-write with an ETag,
 * so concurrent webhooks and the decision orchestration never lose each other's changes, and
 * each step is idempotent (a retried delivery repeats it harmlessly).
 */
export class Decisions {
  private readonly decisions: Collection<DecisionDoc>;
  private readonly states: Collection<TriggerStateDoc>;
  private readonly receipts: Collection<AlertReceiptDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.decisions = documents.collection(alertCollectionsDefs.alertDecisions);
    this.states = documents.collection(alertCollectionsDefs.triggerStates);
    this.receipts = documents.collection(alertCollectionsDefs.alertReceipts);
  }

  private now = () => new Date(this.clock()).toISOString();

  async get(id: string): Promise<DecisionDoc> {
    const found = await this.decisions.get(id, id);
    if (!found) throw notFound('Alert decision', id);
    return found.doc;
  }

  /** Read-modify-write with the ETag; `fn` returns undefined to leave it as it is. */
  async mutate(id: string, fn: (d: DecisionDoc) => DecisionDoc | undefined): Promise<DecisionDoc> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.decisions.get(id, id);
      if (!cur) throw notFound('Alert decision', id);
      const next = fn(structuredClone(cur.doc));
      if (!next) return cur.doc;
      try {
        return (
          await this.decisions.replace({ ...next, updatedAt: this.now() }, { ifMatch: cur.etag })
        ).doc;
      } catch (e) {
        if (!retryable(e) || attempt >= 20) throw e;
      }
    }
  }

  /** The trigger's open decision, if any. */
  async openOf(trigger: string): Promise<DecisionDoc | undefined> {
    const st = await this.states.get(trigger, trigger);
    if (!st?.doc.openDecisionId) return undefined;
    const d = await this.decisions.get(st.doc.openDecisionId, st.doc.openDecisionId);
    return d?.doc.state === 'open' ? d.doc : undefined;
  }

  /**
   * A Fired signal joins the trigger's open decision, or opens one. `opened` tells the caller
   * to start its orchestration; otherwise it signals the running one.
   */
  async joinOrOpen(
    t: AlertTriggerDoc,
    receiptKey: string,
    signal: Signal,
  ): Promise<{ decisionId: string; opened: boolean }> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const st = await this.states.get(t.name, t.name);
      const openId = st?.doc.openDecisionId;
      if (openId) {
        const joined = await this.mutate(openId, (d) => {
          if (d.state !== 'open' || d.signals.some((s) => s.receiptId === signal.receiptId))
            return undefined;
          d.signals.push(signal);
          d.version++;
          return d;
        }).catch(() => undefined);
        if (joined?.state === 'open') return { decisionId: openId, opened: false };
        await this.clearSlot(t.name, openId);
        continue;
      }
      const id = decisionIdFor(t.name, receiptKey);
      const { id: _i, name: _n, createdAt: _c, updatedAt: _u, ...rules } = t;
      try {
        await this.decisions.create({
          id,
          trigger: t.name,
          rules,
          openedAt: this.now(),
          signals: [signal],
          version: 1,
          state: 'open',
          updatedAt: this.now(),
        });
      } catch (e) {
        if (!retryable(e)) throw e; // created by an earlier try of this same delivery
      }
      try {
        if (st)
          await this.states.replace(
            { ...st.doc, openDecisionId: id, updatedAt: this.now() },
            { ifMatch: st.etag },
          );
        else await this.states.create({ id: t.name, openDecisionId: id, updatedAt: this.now() });
        return { decisionId: id, opened: true };
      } catch (e) {
        if (!retryable(e)) throw e;
        // Another alert opened one first: ours was never started; join theirs.
        await this.decisions.delete(id, id).catch(() => undefined);
      }
    }
    throw new Error(`Could not open or join a decision of trigger '${t.name}'.`);
  }

  /** A Resolved alert: marks its signal resolved in the open decision; undefined when none has it. */
  async resolve(
    trigger: string,
    alertId: string,
    resolvedAt: string,
  ): Promise<DecisionDoc | undefined> {
    const open = await this.openOf(trigger);
    if (!open?.signals.some((s) => s.alertId === alertId)) return undefined;
    return this.mutate(open.id, (d) => {
      const s = d.signals.find((x) => x.alertId === alertId && !x.resolvedAt);
      if (!s) return undefined;
      s.resolvedAt = resolvedAt;
      d.version++;
      return d;
    });
  }

  async setApproval(id: string, approval: Approval): Promise<DecisionDoc> {
    return this.mutate(id, (d) => ({ ...d, approval }));
  }

  /**
   * Closes the decision with its outcome, unless a signal joined or resolved since the caller
   * looked (`seenVersion`): then it must look again (false). Closing twice with the same kind
   * is a no-op (a retried activity). Frees the trigger's slot (later alerts open a new
   * decision) and writes the outcome onto every receipt that joined.
   */
  async close(
    id: string,
    outcome: { kind: 'accepted' | 'ignored'; reason?: IgnoreReason; detail: string },
    seenVersion: number,
  ): Promise<boolean> {
    let stale = false;
    const d = await this.mutate(id, (cur) => {
      if (cur.state === 'closed') {
        stale = cur.outcome?.kind !== outcome.kind;
        return undefined;
      }
      if (cur.version !== seenVersion) {
        stale = true;
        return undefined;
      }
      return { ...cur, state: 'closed', outcome: { ...outcome, at: this.now() } };
    });
    if (stale) return false;
    await this.clearSlot(d.trigger, id);
    await this.recordOnReceipts(d);
    return true;
  }

  /** After acceptance: the plan job it started, or the refusal that came instead (plan busy). */
  async amend(
    id: string,
    patch: { planJobId?: string; outcome?: Omit<NonNullable<DecisionDoc['outcome']>, 'at'> },
  ): Promise<DecisionDoc> {
    const d = await this.mutate(id, (cur) => ({
      ...cur,
      ...(patch.planJobId ? { planJobId: patch.planJobId } : {}),
      ...(patch.outcome ? { outcome: { ...patch.outcome, at: this.now() } } : {}),
    }));
    await this.recordOnReceipts(d, true);
    return d;
  }

  /** The decision's outcome on each receipt that joined it (`force`: overwrite an earlier one). */
  private async recordOnReceipts(d: DecisionDoc, force = false): Promise<void> {
    const o = d.outcome;
    if (!o) return;
    for (const s of d.signals) {
      await this.updateReceipt(s.receiptId, (r) => {
        if (!force && r.outcome !== 'pending') return undefined;
        const { reason: _r, jobId: _j, ...rest } = r;
        return {
          ...rest,
          outcome: o.kind,
          ...(o.reason ? { reason: o.reason } : {}),
          detail: o.detail,
          ...(d.planJobId ? { jobId: d.planJobId } : {}),
        };
      });
    }
  }

  private async clearSlot(trigger: string, id: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const st = await this.states.get(trigger, trigger);
      if (st?.doc.openDecisionId !== id) return;
      const { openDecisionId: _o, ...rest } = st.doc;
      try {
        await this.states.replace({ ...rest, updatedAt: this.now() }, { ifMatch: st.etag });
        return;
      } catch (e) {
        if (!retryable(e)) throw e;
      }
    }
  }

  /** Read-modify-write of a receipt (missing: nothing to do). */
  async updateReceipt(
    id: string,
    fn: (r: AlertReceiptDoc) => AlertReceiptDoc | undefined,
  ): Promise<AlertReceiptDoc | undefined> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.receipts.get(id, id);
      if (!cur) return undefined;
      const next = fn(structuredClone(cur.doc));
      if (!next) return cur.doc;
      try {
        return (await this.receipts.replace(next, { ifMatch: cur.etag })).doc;
      } catch (e) {
        if (!retryable(e) || attempt >= 20) throw e;
      }
    }
  }
}
