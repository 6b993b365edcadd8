import {
  collectionsDefs,
  type HeartbeatDoc,
  type ProtectedItemDoc,
  type SiteDoc,
} from '../controlPlane/model';
import type { ProtectedItemState } from '../controlPlane/protectedItemState';
import type { Collection, DocumentStore } from '../documents/ports';
import type { AlertEssentials } from './commonAlertSchema';
import { alertCollectionsDefs, type SiteSignalDoc } from './model';

/** The rule name of Haven's own site-down alert (what triggers match on). */
export const SITE_DOWN_RULE = 'haven-site-down';
export const siteTargetId = (siteId: string) => `/haven/sites/${siteId}`;

/** States whose machine is expected to heartbeat (it replicates from the site). */
const replicating: ReadonlySet<ProtectedItemState> = new Set([
  'enabling',
  'initial-sync',
  'initial-sync-stalled',
  'protected',
]);

/**
 * Whether a site is down: it has replicating machines, and none of them heartbeat within the
 * last `silentMs` (a machine that never heartbeat counts as silent).
 */
export function siteIsDown(
  machines: readonly { lastHeartbeatAt?: string }[],
  now: number,
  silentMs: number,
): boolean {
  if (!machines.length) return false;
  return machines.every(
    (m) => !m.lastHeartbeatAt || now - Date.parse(m.lastHeartbeatAt) >= silentMs,
  );
}

/** The site-down alert, in the common schema's essentials (Fired, or Resolved with the same id). */
export function siteDownAlert(
  siteId: string,
  alertId: string,
  condition: 'Fired' | 'Resolved',
  firedAt: string,
  now: string,
  silentSeconds: number,
): AlertEssentials {
  return {
    alertId,
    alertRule: SITE_DOWN_RULE,
    severity: 'Sev1',
    signalType: 'Log',
    monitorCondition: condition,
    monitoringService: 'Haven',
    alertTargetIDs: [siteTargetId(siteId)],
    firedDateTime: firedAt,
    ...(condition === 'Resolved' ? { resolvedDateTime: now } : {}),
    description: `Every replicating machine of site '${siteId}' has been silent for ${silentSeconds} s.`,
    customProperties: { siteId, silentSeconds: String(silentSeconds) },
  };
}

/**
 * Haven's own "site down" signal (issue 13 §2): a scan (the timer) compares every site's
 * replicating machines' heartbeats with T and reports the transitions as alerts, which go the
 * same path as Azure Monitor's (receipts, triggers, guards). Raised on the transition only;
 * the state is recorded after the alert was handed over, so a crash in between raises it again
 * (a duplicate receipt) rather than never.
 */
export class SiteSignals {
  private readonly signals: Collection<SiteSignalDoc>;
  private readonly sites: Collection<SiteDoc>;
  private readonly items: Collection<ProtectedItemDoc>;
  private readonly heartbeats: Collection<HeartbeatDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
    readonly silentSeconds: number,
  ) {
    this.signals = documents.collection(alertCollectionsDefs.siteSignals);
    this.sites = documents.collection(collectionsDefs.sites);
    this.items = documents.collection(collectionsDefs.protectedItems);
    this.heartbeats = documents.collection(collectionsDefs.heartbeats);
  }

  /** Scans every site; `raise` hands each transition's alert over (then it is recorded). */
  async scan(raise: (e: AlertEssentials) => Promise<void>): Promise<AlertEssentials[]> {
    const now = this.clock();
    const iso = new Date(now).toISOString();
    const raised: AlertEssentials[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.sites.query({
        limit: 100,
        ...(continuation ? { continuation } : {}),
      });
      for (const { doc: site } of page.items) {
        const down = siteIsDown(await this.machinesOf(site.id), now, this.silentSeconds * 1000);
        const cur = (await this.signals.get(site.id, site.id))?.doc;
        if (down === (cur?.state === 'down')) continue;
        const alertId = down
          ? `${siteTargetId(site.id)}/alerts/site-down-${now}`
          : (cur?.alertId ?? `${siteTargetId(site.id)}/alerts/site-down`);
        const e = siteDownAlert(
          site.id,
          alertId,
          down ? 'Fired' : 'Resolved',
          down ? iso : (cur?.since ?? iso),
          iso,
          this.silentSeconds,
        );
        await raise(e);
        raised.push(e);
        await this.signals.upsert({
          id: site.id,
          siteId: site.id,
          state: down ? 'down' : 'up',
          ...(down ? { alertId } : {}),
          since: iso,
          updatedAt: iso,
        });
      }
      continuation = page.continuation;
    } while (continuation);
    return raised;
  }

  /** The site's replicating machines with their last heartbeat. */
  private async machinesOf(siteId: string): Promise<{ lastHeartbeatAt?: string }[]> {
    const items = await this.items.query({
      where: [
        { field: 'siteId', op: '=', value: siteId },
        { field: 'state', op: 'in', value: [...replicating] },
      ],
      limit: 1000,
    });
    const ids = items.items.map((x) => x.doc.machineId);
    if (!ids.length) return [];
    const beats = await this.heartbeats.query({
      where: [{ field: 'machineId', op: 'in', value: ids }],
      limit: ids.length,
    });
    const at = new Map(beats.items.map((b) => [b.doc.machineId, b.doc.at]));
    return ids.map((id) => (at.get(id) ? { lastHeartbeatAt: at.get(id)! } : {}));
  }
}
