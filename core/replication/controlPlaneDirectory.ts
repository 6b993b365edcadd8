import type { DocumentStore } from '../documents/ports';
import {
  collectionsDefs,
  type DiskDoc,
  type HeartbeatDoc,
  type MachineDoc,
  type PolicyDoc,
  type ProtectedItemDoc,
} from '../controlPlane/model';
import type { AgentReport, KnownMachine, MachineDirectory } from './ports';

/** States in which a machine's disks replicate to Azure (their points need every protected disk). */
const REPLICATING = new Set([
  'enabling',
  'initial-sync',
  'initial-sync-stalled',
  'protected',
  'failing-over',
  'failed-over',
]);

/** The data path's view of the control plane's documents (machines, disks, protected items, policies). */
export class ControlPlaneDirectory implements MachineDirectory {
  private readonly machines;
  private readonly disks;
  private readonly items;
  private readonly policies;
  private readonly heartbeats;

  constructor(documents: DocumentStore) {
    this.heartbeats = documents.collection<HeartbeatDoc>(collectionsDefs.heartbeats);
    this.machines = documents.collection<MachineDoc>(collectionsDefs.machines);
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
    this.items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
    this.policies = documents.collection<PolicyDoc>(collectionsDefs.policies);
  }

  async getMachine(machineId: string): Promise<KnownMachine | undefined> {
    const machine = await this.machines.get(machineId, machineId);
    // A revoked machine is no longer a known sender: its batches are refused.
    if (!machine || machine.doc.revokedAt) return undefined;
    const [disks, item] = await Promise.all([
      this.disks.query({ partitionKey: machineId, limit: 1000 }),
      this.items.get(machineId, machineId),
    ]);
    const protectedIds = new Set(item && REPLICATING.has(item.doc.state) ? item.doc.disks : []);
    const policy = item ? await this.policies.get(item.doc.policy, item.doc.policy) : undefined;
    return {
      machineId,
      disks: disks.items.map((d) => ({
        diskId: d.doc.id,
        sizeBytes: d.doc.sizeBytes,
        generation: d.doc.generation ?? 1,
        protected: protectedIds.has(d.doc.id),
      })),
      ...(policy
        ? {
            retention: { retentionHours: policy.doc.retentionHours, thinning: policy.doc.thinning },
            rpoAlertSeconds: policy.doc.rpoAlertSeconds,
            hydrationLagAlertSeconds: policy.doc.hydrationLagAlertSeconds,
          }
        : {}),
    };
  }

  async agentReport(machineId: string): Promise<AgentReport | undefined> {
    const hb = await this.heartbeats.get(machineId, machineId);
    return hb?.doc.replication ? { at: hb.doc.at, ...hb.doc.replication } : undefined;
  }

  async listMachineIds(): Promise<string[]> {
    const ids: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.items.query({
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      });
      ids.push(...page.items.map((i) => i.doc.machineId));
      continuation = page.continuation;
    } while (continuation);
    return ids;
  }
}
