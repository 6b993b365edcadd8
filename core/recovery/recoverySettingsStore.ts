import type { Collection, DocumentStore } from '../documents/ports';
import { HavenError, precondition, validation } from '../errors';
import type { Machines } from '../controlPlane/machines';
import type { HeartbeatDoc } from '../controlPlane/model';
import { collectionsDefs } from '../controlPlane/model';
import { cidrContains, parseIpv4 } from './ipv4';
import { recoveryCollectionsDefs, type RecoverySettingsDoc } from './model';
import type { RecoveryTarget } from './ports';
import {
  applySettingsBody,
  effectiveSettings,
  type RecoverySettings,
  type RecoverySettingsBody,
  type SettingsFacts,
} from './settings';

/** The ETag of settings nobody set yet (If-Match with it: "only if still unset"). */
export const NEVER_SET = 'new';

/** Deployment defaults of recovery settings (config). */
export interface RecoveryDefaults {
  resourceGroup: string;
  location: string;
}

export interface SettingsView {
  machineId: string;
  /** Every field as a recovery would use it now. */
  settings: RecoverySettings;
  /** Only what an operator set (the rest follows the defaults). */
  explicit: RecoverySettingsDoc['settings'];
  /** ETag for If-Match ('new' when nothing was ever set). */
  etag: string;
}

/** Recovery settings per machine: GET/PUT with ETags; defaults fill what is not set. */
export class RecoverySettingsStore {
  private readonly docs: Collection<RecoverySettingsDoc>;
  private readonly heartbeats: Collection<HeartbeatDoc>;
  constructor(
    documents: DocumentStore,
    private readonly machines: Machines,
    private readonly defaults: RecoveryDefaults,
    private readonly clock: () => number,
  ) {
    this.docs = documents.collection(recoveryCollectionsDefs.recoverySettings);
    this.heartbeats = documents.collection(collectionsDefs.heartbeats);
  }

  /** Facts defaults derive from: the machine's disks (sorted) and last reported addresses. */
  async facts(machineId: string): Promise<SettingsFacts> {
    const m = (await this.machines.getDoc(machineId)).doc;
    const [disks, hb] = await Promise.all([
      this.machines.listDisks(machineId),
      this.heartbeats.get(machineId, machineId),
    ]);
    return {
      machineId,
      hostname: m.hostname,
      disks: disks.map((d) => d.id).sort(),
      ipv4: hb?.doc.ipv4 ?? [],
      ...this.defaults,
    };
  }

  async get(machineId: string): Promise<SettingsView> {
    const f = await this.facts(machineId);
    const found = await this.docs.get(machineId, machineId);
    return {
      machineId,
      settings: effectiveSettings(found?.doc.settings, f),
      explicit: found?.doc.settings ?? {},
      etag: found?.etag ?? NEVER_SET,
    };
  }

  /**
   * Applies `body` over the stored values (null clears a field) and validates the whole: on
   * its own, then against the target when one is configured (the subnet and NSG exist, a
   * static IP lies inside the subnet). `ifMatch` 'new' means "only if never set".
   */
  async put(
    machineId: string,
    body: RecoverySettingsBody,
    ifMatch: string | undefined,
    target?: RecoveryTarget,
  ): Promise<SettingsView> {
    const f = await this.facts(machineId);
    const found = await this.docs.get(machineId, machineId);
    if (ifMatch !== undefined && ifMatch !== (found?.etag ?? NEVER_SET)) throw precondition();
    const { stored, effective } = applySettingsBody(found?.doc.settings, body, f);
    if (target) await validateAgainstTarget(effective, target);
    const doc: RecoverySettingsDoc = {
      id: machineId,
      machineId,
      settings: stored,
      updatedAt: new Date(this.clock()).toISOString(),
    };
    try {
      const written = found
        ? await this.docs.replace(doc, { ifMatch: found.etag })
        : await this.docs.create(doc);
      return { machineId, settings: effective, explicit: stored, etag: written.etag };
    } catch (e) {
      // A concurrent writer: the caller's view is stale either way.
      if (e instanceof HavenError && e.kind === 'conflict') throw precondition();
      throw e;
    }
  }
}

/** Checks what only the target knows: referenced resources exist, a static IP fits the subnet. */
export async function validateAgainstTarget(
  s: RecoverySettings,
  target: RecoveryTarget,
): Promise<void> {
  if (s.subnetId) {
    const subnet = await target.get(s.subnetId);
    if (!subnet) throw validation(`The subnet '${s.subnetId}' does not exist.`);
    const prefix = String(subnet.properties.addressPrefix ?? '');
    if (parseIpv4(s.privateIp) !== undefined && !cidrContains(prefix, s.privateIp))
      throw validation(`The private IP ${s.privateIp} is not inside the subnet ${prefix}.`);
  }
  if (s.nsgId && !(await target.get(s.nsgId)))
    throw validation(`The network security group '${s.nsgId}' does not exist.`);
}
