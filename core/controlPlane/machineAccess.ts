import type { DocumentStore } from '../documents/ports';
import { HavenError, conflict, notFound } from '../errors';
import type { MachineKeys } from './machineKeys';
import {
  collectionsDefs,
  type DataKeyDoc,
  type DiskDoc,
  type HeartbeatDoc,
  type MachineDoc,
  type ProtectedItemDoc,
} from './model';

/**
 * Ending and renewing a machine's access: revoke it (its credential stops working at once, so
 * it can get no new ingest token and its batches are refused), delete it, and rotate its data
 * key (new batches are sealed with the new key; the old keys stay, so older batches and points
 * remain readable). An admin asks for a rotation; the agent takes the new key, shown once, on
 * its next heartbeat — the key never travels to anyone but the machine's own credential.
 */
export class MachineAccess {
  private readonly machines;
  private readonly disks;
  private readonly heartbeats;
  private readonly dataKeys;
  private readonly items;

  constructor(
    documents: DocumentStore,
    private readonly keys: MachineKeys,
    private readonly clock: () => number,
  ) {
    this.machines = documents.collection<MachineDoc>(collectionsDefs.machines);
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.heartbeats = documents.collection<HeartbeatDoc>(collectionsDefs.heartbeats);
    this.dataKeys = documents.collection<DataKeyDoc>(collectionsDefs.dataKeys);
    this.items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
  }

  private now = () => new Date(this.clock()).toISOString();

  /** Applies `change` to the machine with optimistic concurrency. */
  private async update(
    id: string,
    change: (m: MachineDoc) => MachineDoc | undefined,
  ): Promise<MachineDoc> {
    for (;;) {
      const found = await this.machines.get(id, id);
      if (!found) throw notFound('Machine', id);
      const next = change(found.doc);
      if (!next) return found.doc;
      try {
        return (await this.machines.replace(next, { ifMatch: found.etag })).doc;
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition')) throw e;
      }
    }
  }

  /** Idempotent: a revoked machine stays revoked (its revocation time does not move). */
  revoke(id: string): Promise<MachineDoc> {
    return this.update(id, (m) => (m.revokedAt ? undefined : { ...m, revokedAt: this.now() }));
  }

  /**
   * Deletes the machine and what only it used (disks, heartbeat, data keys). Refused while it is
   * protected: its replicas and points belong to a protection that must be disabled first.
   */
  async delete(id: string): Promise<{ id: string; deleted: string[] }> {
    const machine = await this.machines.get(id, id);
    if (!machine) throw notFound('Machine', id);
    const item = await this.items.get(id, id);
    if (item && item.doc.state !== 'disabled') {
      throw conflict(`Machine ${id} is protected (${item.doc.state}); disable protection first.`, {
        state: item.doc.state,
      });
    }
    const deleted: string[] = [];
    const disks = await this.disks.query({ partitionKey: id, limit: 1000 });
    for (const d of disks.items) {
      await this.disks.delete(id, d.doc.id);
      deleted.push(`disk ${d.doc.id}`);
    }
    const keys = await this.dataKeys.query({ partitionKey: id, limit: 1000 });
    for (const k of keys.items) await this.dataKeys.delete(id, k.doc.id);
    if (keys.items.length) deleted.push(`${keys.items.length} data key(s)`);
    if (await this.heartbeats.get(id, id)) await this.heartbeats.delete(id, id);
    if (item) await this.items.delete(id, id);
    await this.machines.delete(id, id);
    deleted.push(`machine ${id}`);
    return { id, deleted };
  }

  /** Admin: asks the agent to take a new data key on its next heartbeat. */
  requestKeyRotation(id: string): Promise<MachineDoc> {
    return this.update(id, (m) => {
      if (m.revokedAt) throw conflict(`Machine ${id} is revoked.`);
      return m.keyRotationRequestedAt ? undefined : { ...m, keyRotationRequestedAt: this.now() };
    });
  }

  /**
   * The machine itself (authenticated by its credential): a new data key becomes current and is
   * returned once — only while an admin's request is pending. Otherwise a stolen credential
   * alone could mint a data key and seal batches of its own (and every call would leave one
   * more key document). A lost answer leaves the agent on its old key, which stays valid: the
   * machine's `keyId` then names a key no batch uses, and the admin asks again.
   */
  async rotateKey(id: string): Promise<{ keyId: string; dataKey: string }> {
    const notRequested = () =>
      conflict(
        `No data key rotation is pending for machine ${id}: an admin asks for one (haven machine rotate-key).`,
      );
    const current = await this.machines.get(id, id);
    if (!current) throw notFound('Machine', id);
    if (!current.doc.keyRotationRequestedAt) throw notRequested();
    const fresh = await this.keys.prepare(id);
    await this.keys.store(fresh.doc);
    await this.update(id, (m) => {
      // Two calls racing on one request: the second is refused (its key is never used).
      if (!m.keyRotationRequestedAt) throw notRequested();
      const { keyRotationRequestedAt: _done, ...rest } = m;
      return { ...rest, keyId: fresh.keyId };
    });
    return { keyId: fresh.keyId, dataKey: fresh.key.toString('base64') };
  }
}
