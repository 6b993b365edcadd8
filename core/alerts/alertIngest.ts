import { createHash } from 'node:crypto';
import type { Jobs } from '../controlPlane/jobs';
import type { JobDoc } from '../controlPlane/model';
import type { JobLauncher } from '../controlPlane/protection';
import type { Collection, DocumentStore } from '../documents/ports';
import { isHavenError } from '../errors';
import { ALERT_DECISION_JOB } from '../plans/planOperations';
import type { AlertEssentials } from './commonAlertSchema';
import type { Decisions } from './decisions';
import type { Signal } from './guards';
import {
  ALERT_RETENTION_MS,
  alertCollectionsDefs,
  type AlertReceiptDoc,
  type AlertTriggerDoc,
} from './model';
import { triggerMatches } from './triggerMatch';
import type { AlertTriggers } from './triggers';

/** The event that wakes a decision orchestration: a signal joined or resolved; look again. */
export const DECISION_SIGNAL_EVENT = 'Signal';

/** Wakes a running decision orchestration (a signal joined or resolved). */
export interface DecisionSignaller {
  signal(decisionId: string): Promise<void>;
}

export interface ReceiveResult {
  receipt: AlertReceiptDoc;
  /** `pending`: handed to decisions; `ignored`: no trigger matched, nothing pending; `duplicate`. */
  status: 'pending' | 'ignored' | 'duplicate';
}

/** The input of the decision orchestration. */
export interface DecisionInput {
  decisionId: string;
}

export const receiptKeyOf = (e: Pick<AlertEssentials, 'alertId' | 'monitorCondition'>) =>
  createHash('sha256').update(`${e.alertId}\u0000${e.monitorCondition}`).digest('hex');

/**
 * Receives one alert (the webhook, or Haven's own site-down signal) and hands it to decisions:
 * quick (a few document writes and an orchestration start), idempotent on the alert id and
 * condition (action groups retry and re-fire; a retried delivery whose handling was cut short
 * resumes it), and every outcome recorded on the alert's receipt.
 */
export class AlertIngest {
  private readonly receipts: Collection<AlertReceiptDoc>;
  constructor(
    documents: DocumentStore,
    private readonly d: {
      triggers: AlertTriggers;
      decisions: Decisions;
      jobs: Jobs;
      clock: () => number;
    },
  ) {
    this.receipts = documents.collection(alertCollectionsDefs.alertReceipts);
  }

  private now = () => new Date(this.d.clock()).toISOString();

  async receive(
    e: AlertEssentials,
    source: AlertReceiptDoc['source'],
    ports: { launcher?: JobLauncher; signaller?: DecisionSignaller },
  ): Promise<ReceiveResult> {
    const key = receiptKeyOf(e);
    const base = {
      key,
      essentials: e,
      source,
      receivedAt: this.now(),
      triggers: [] as string[],
      decisionIds: [] as string[],
      expiresAt: this.d.clock() + ALERT_RETENTION_MS,
    };
    let receipt = (await this.receipts.get(key, key))?.doc;
    if (!receipt) {
      try {
        receipt = (await this.receipts.create({ ...base, id: key, outcome: 'pending' })).doc;
      } catch (err) {
        if (!(isHavenError(err) && err.kind === 'conflict')) throw err;
        receipt = (await this.receipts.get(key, key))!.doc;
      }
    } else if (receipt.processedAt) {
      const dup = await this.receipts.create({
        ...base,
        id: `${key.slice(0, 32)}-${this.d.clock()}-${Math.random().toString(36).slice(2, 8)}`,
        outcome: 'ignored',
        reason: 'duplicate',
        detail: `already received at ${receipt.receivedAt}`,
        duplicateOf: key,
        processedAt: this.now(),
      });
      return { receipt: dup.doc, status: 'duplicate' };
    }

    const matched = (await this.d.triggers.all()).filter((t) => triggerMatches(t, e));
    const signal: Signal = {
      receiptId: key,
      alertId: e.alertId,
      rule: e.alertRule,
      firedAt: e.firedDateTime,
      receivedAt: receipt.receivedAt,
    };
    const toStart: string[] = [];
    const toSignal: string[] = [];
    let resolvedNote: Pick<AlertReceiptDoc, 'reason' | 'detail'> | undefined;
    for (const t of matched) {
      if (e.monitorCondition === 'Fired') {
        const r = await this.d.decisions.joinOrOpen(t, key, signal);
        await this.ensureJob(r.decisionId, t);
        (r.opened ? toStart : toSignal).push(r.decisionId);
      } else {
        const d = await this.d.decisions.resolve(
          t.name,
          e.alertId,
          e.resolvedDateTime ?? this.now(),
        );
        if (d) {
          toSignal.push(d.id);
          resolvedNote = d.planJobId
            ? { reason: 'resolved-after-start', detail: `job ${d.planJobId} had started` }
            : { reason: 'resolved-before-start', detail: `withdrawn from decision ${d.id}` };
        }
      }
    }
    if (e.monitorCondition === 'Resolved' && matched.length && !resolvedNote) {
      // Its Fired alert may have started the operation already (that decision is closed).
      const fired = await this.receipts.get(
        receiptKeyOf({ ...e, monitorCondition: 'Fired' }),
        receiptKeyOf({ ...e, monitorCondition: 'Fired' }),
      );
      if (fired?.doc.outcome === 'accepted')
        resolvedNote = {
          reason: 'resolved-after-start',
          detail: `job ${fired.doc.jobId ?? '?'} had started`,
        };
    }
    const decisionIds = [...toStart, ...toSignal];
    const ignored = !matched.length
      ? { reason: 'no-trigger' as const, detail: 'no alert trigger matched' }
      : e.monitorCondition === 'Resolved'
        ? (resolvedNote ?? {
            reason: 'resolved-nothing-pending' as const,
            detail: 'no decision was pending',
          })
        : undefined;
    receipt =
      (await this.d.decisions.updateReceipt(key, (r) => ({
        ...r,
        triggers: matched.map((t) => t.name),
        decisionIds: [...new Set([...r.decisionIds, ...decisionIds])],
        ...(ignored ? { outcome: 'ignored' as const, ...ignored } : {}),
      }))) ?? receipt;
    for (const id of decisionIds) {
      const job = await this.d.jobs.get(id);
      await ports.launcher?.start(job, {
        decisionId: id,
      } satisfies DecisionInput as unknown as Record<string, unknown>);
    }
    for (const id of toSignal) await ports.signaller?.signal(id);
    receipt =
      (await this.d.decisions.updateReceipt(key, (r) => ({ ...r, processedAt: this.now() }))) ??
      receipt;
    return { receipt, status: ignored ? 'ignored' : 'pending' };
  }

  /** The decision's job (its id = the decision id = the orchestration's instance id). */
  private async ensureJob(decisionId: string, t: AlertTriggerDoc): Promise<JobDoc> {
    try {
      return await this.d.jobs.get(decisionId);
    } catch {
      try {
        return await this.d.jobs.create(
          ALERT_DECISION_JOB,
          { startedBy: `alert-trigger:${t.name}`, allowedActions: ['cancel'] },
          decisionId,
        );
      } catch (err) {
        if (!(isHavenError(err) && err.kind === 'conflict')) throw err;
        return this.d.jobs.get(decisionId);
      }
    }
  }

  /** Receipts, newest first. */
  async list(page: { limit?: number; continuation?: string } = {}) {
    return this.receipts.query({ orderBy: [{ field: 'receivedAt', direction: 'desc' }], ...page });
  }
}
