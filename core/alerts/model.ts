import type { CollectionDef } from '../documents/ports';
import type { AlertEssentials } from './commonAlertSchema';
import type { Approval, IgnoreReason, Signal } from './guards';
import type { TriggerBody } from './triggerSchema';

/** Stored documents of alert-driven operations. */

export interface AlertTriggerDoc extends TriggerBody {
  id: string; // = name
  name: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * A trigger's open decision (one at a time: later alerts join it). Kept apart from the trigger
 * so that alerts never move the trigger's ETag under an operator editing it.
 */
export interface TriggerStateDoc {
  id: string; // = trigger name
  openDecisionId?: string;
  updatedAt: string;
}

/** Why an alert started nothing (the guards' reasons, and what is decided before them). */
export type AlertIgnoreReason =
  IgnoreReason | 'no-trigger' | 'duplicate' | 'resolved-nothing-pending' | 'resolved-after-start';

/** One alert as received (each delivery of a Fired or Resolved), with what became of it. */
export interface AlertReceiptDoc {
  id: string;
  /** sha256 of alertId and condition: the first delivery's id; duplicates point at it. */
  key: string;
  essentials: AlertEssentials;
  /** `azure-monitor` (the webhook) or `haven` (Haven's own site-down signal). */
  source: 'azure-monitor' | 'haven';
  receivedAt: string;
  outcome: 'pending' | 'accepted' | 'ignored';
  reason?: AlertIgnoreReason;
  detail?: string;
  triggers: string[];
  decisionIds: string[];
  /** The operation's job (accepted). */
  jobId?: string;
  duplicateOf?: string;
  /** Set once the webhook's handling is complete (a retried delivery before that resumes it). */
  processedAt?: string;
  expiresAt: number;
}

/** A trigger's decision: the signals that joined it and how the guards decided. */
export interface DecisionDoc {
  id: string; // = its job id
  trigger: string;
  /** The trigger as it was when the decision opened. */
  rules: TriggerBody;
  openedAt: string;
  signals: Signal[];
  /** Bumped whenever a signal joins or resolves: a close decided on an older view is refused. */
  version: number;
  approval?: Approval;
  state: 'open' | 'closed';
  outcome?: {
    kind: 'accepted' | 'ignored';
    reason?: IgnoreReason;
    detail: string;
    at: string;
  };
  /** The plan operation it started. */
  planJobId?: string;
  updatedAt: string;
}

/** Haven's own view of a site: down once every protected machine stopped heartbeating for T. */
export interface SiteSignalDoc {
  id: string; // = siteId
  siteId: string;
  state: 'up' | 'down';
  /** The alert raised when it went down (resolved with the same id when it comes back). */
  alertId?: string;
  since: string;
  updatedAt: string;
}

export const ALERT_RETENTION_MS = 30 * 24 * 3600_000;

export const alertCollectionsDefs = {
  alertTriggers: { name: 'alertTriggers', partitionKey: 'id' },
  triggerStates: { name: 'triggerStates', partitionKey: 'id' },
  // Not `alerts`: the data path's replication alerts have that container.
  alertReceipts: {
    name: 'alertReceipts',
    partitionKey: 'id',
    expiresAtField: 'expiresAt',
    orderings: [[{ field: 'receivedAt', direction: 'desc' }]],
  },
  alertDecisions: { name: 'alertDecisions', partitionKey: 'id' },
  siteSignals: { name: 'siteSignals', partitionKey: 'id' },
} satisfies Record<string, CollectionDef>;

export const alertCollections: CollectionDef[] = Object.values(alertCollectionsDefs);
