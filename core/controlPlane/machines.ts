import type { DocumentStore, Versioned } from '../documents/ports';
import { HavenError, conflict, notFound } from '../errors';
import {
  collectionsDefs,
  type DiskDoc,
  type HeartbeatDoc,
  type MachineDoc,
  type ProtectedItemDoc,
} from './model';
import { MAX_DISKS_PER_MACHINE, type DiskFacts, type HeartbeatBody } from './schemas';

/** A machine as the API shows it (no credential hash). */
export interface MachineView extends Omit<MachineDoc, 'credentialHash'> {
  lastHeartbeatAt?: string;
}

export interface MachineDetail extends MachineView {
  disks: DiskView[];
  heartbeat: Omit<HeartbeatDoc, 'id' | 'machineId'> | null;
  protection: { state: string; disks: string[]; policy: string; jobId: string } | null;
}

export type DiskView = Omit<DiskDoc, 'machineId' | 'generation'> & { generation: number };

export const toMachineView = (m: MachineDoc, hb?: HeartbeatDoc): MachineView => ({
  id: m.id,
  siteId: m.siteId,
  hostname: m.hostname,
  os: m.os,
  ...((hb?.agentVersion ?? m.agentVersion)
    ? { agentVersion: hb?.agentVersion ?? m.agentVersion }
    : {}),
  enrolledAt: m.enrolledAt,
  keyId: m.keyId,
  ...(m.revokedAt ? { revokedAt: m.revokedAt } : {}),
  ...(m.keyRotationRequestedAt ? { keyRotationRequestedAt: m.keyRotationRequestedAt } : {}),
  ...(m.replacedAt ? { replacedAt: m.replacedAt } : {}),
  ...(hb ? { lastHeartbeatAt: hb.at } : {}),
});

export const toDiskView = ({ machineId: _m, ...d }: DiskDoc): DiskView => ({
  ...d,
  generation: d.generation ?? 1,
});

/**
 * Machines, their disks and heartbeats. Replication health (RPO, churn, backlog, last point,
 * errors) is computed live by the data path (core/replication/health.ts) and added by the
 * GET /api/machines/{id} trigger.
 */
export class Machines {
  private readonly machines;
  private readonly disks;
  private readonly heartbeats;
  private readonly items;

  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.machines = documents.collection<MachineDoc>(collectionsDefs.machines);
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.heartbeats = documents.collection<HeartbeatDoc>(collectionsDefs.heartbeats);
    this.items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
  }

  async getDoc(id: string): Promise<Versioned<MachineDoc>> {
    const found = await this.machines.get(id, id);
    if (!found) throw notFound('Machine', id);
    return found;
  }

  async list(
    page: { limit?: number; continuation?: string; siteId?: string } = {},
  ): Promise<{ items: MachineView[]; continuation?: string }> {
    const res = await this.machines.query({
      limit: page.limit,
      continuation: page.continuation,
      where: page.siteId ? [{ field: 'siteId', op: '=', value: page.siteId }] : [],
      orderBy: [{ field: 'enrolledAt' }],
    });
    // One extra query per page for the last heartbeats (agent version, last seen).
    const ids = res.items.map((x) => x.doc.id);
    const beats = ids.length
      ? await this.heartbeats.query({
          where: [{ field: 'machineId', op: 'in', value: ids }],
          limit: ids.length,
        })
      : { items: [] };
    const byId = new Map(beats.items.map((b) => [b.doc.machineId, b.doc]));
    return {
      items: res.items.map((x) => toMachineView(x.doc, byId.get(x.doc.id))),
      continuation: res.continuation,
    };
  }

  async get(id: string): Promise<{ machine: MachineDetail; etag: string }> {
    const found = await this.getDoc(id);
    const [disks, hb, item] = await Promise.all([
      this.listDisks(id),
      this.heartbeats.get(id, id),
      this.items.get(id, id),
    ]);
    return {
      etag: found.etag,
      machine: {
        ...toMachineView(found.doc, hb?.doc),
        disks,
        heartbeat: hb
          ? {
              agentVersion: hb.doc.agentVersion,
              at: hb.doc.at,
              disks: hb.doc.disks,
              ...(hb.doc.ipv4 ? { ipv4: hb.doc.ipv4 } : {}),
            }
          : null,
        protection: item
          ? {
              state: item.doc.state,
              disks: item.doc.disks,
              policy: item.doc.policy,
              jobId: item.doc.jobId,
            }
          : null,
      },
    };
  }

  async listDisks(machineId: string): Promise<DiskView[]> {
    const res = await this.disks.query({ partitionKey: machineId, limit: 1000 });
    return res.items.map((x) => toDiskView(x.doc));
  }

  /**
   * Registers a disk. Re-sending the same facts is a no-op (`created: false`); other facts for
   * a known id are a conflict (a resized/replaced disk needs a resync, not a silent change:
   * core/controlPlane/resyncs.ts turns a size-only change into one).
   */
  async addDisk(
    machineId: string,
    facts: DiskFacts,
  ): Promise<{ disk: DiskView; created: boolean }> {
    await this.getDoc(machineId);
    // A bound on what one machine makes the service hold: without it an agent could register
    // disk after disk under new ids. Checked before the write, so concurrent adds may pass it
    // together (by at most the number in flight).
    const known = await this.disks.query({
      partitionKey: machineId,
      limit: MAX_DISKS_PER_MACHINE + 1,
    });
    if (
      known.items.length >= MAX_DISKS_PER_MACHINE &&
      !known.items.some((x) => x.doc.id === facts.id)
    ) {
      throw conflict(
        `Machine '${machineId}' already has ${known.items.length} disks, the most one machine may register.`,
        { maxDisks: MAX_DISKS_PER_MACHINE },
      );
    }
    const doc: DiskDoc = { ...facts, machineId, addedAt: new Date(this.clock()).toISOString() };
    try {
      return { disk: toDiskView((await this.disks.create(doc)).doc), created: true };
    } catch (e) {
      if (!(e instanceof HavenError && e.kind === 'conflict')) throw e;
      const existing = (await this.disks.get(machineId, facts.id))!.doc;
      if (
        existing.sizeBytes === facts.sizeBytes &&
        existing.logicalSectorSize === facts.logicalSectorSize
      ) {
        return { disk: toDiskView(existing), created: false };
      }
      throw conflict(`Disk '${facts.id}' is already registered with other geometry.`, {
        sizeBytes: existing.sizeBytes,
        logicalSectorSize: existing.logicalSectorSize,
      });
    }
  }

  /** Records the agent's heartbeat (last one wins; kept apart from the machine document). */
  async heartbeat(machineId: string, body: HeartbeatBody): Promise<HeartbeatDoc> {
    const doc: HeartbeatDoc = {
      id: machineId,
      machineId,
      agentVersion: body.agentVersion,
      at: new Date(this.clock()).toISOString(),
      disks: body.disks,
      ...(body.ipv4 ? { ipv4: body.ipv4 } : {}),
      ...(body.replication ? { replication: body.replication } : {}),
    };
    return (await this.heartbeats.upsert(doc)).doc;
  }
}
