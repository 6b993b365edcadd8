import { randomBytes } from 'node:crypto';
import { MemoryDocumentStore } from '../../../../adapters/documents/memoryDocumentStore';
import { createControlPlane } from '../../../../core/controlPlane/controlPlane';
import {
  collectionsDefs,
  type JobDoc,
  type MachineDoc,
  type ProtectedItemDoc,
} from '../../../../core/controlPlane/model';
import { AesKeyWrapper } from '../../../../core/controlPlane/machineKeys';
import type { ProtectedItemState } from '../../../../core/controlPlane/protectedItemState';
import { transient } from '../../../../core/errors';
import { newDiskDoc } from '../../../../core/replication/incidents';
import { diskDocId, replicationCollectionsOf } from '../../../../core/replication/state';

export const MiB = 2 ** 20;
export const M = 'm-1';

/** A control plane over memory with one enrolled machine and disks `a`, `b`; `state` protects both. */
export async function setup(state?: ProtectedItemState) {
  const documents = new MemoryDocumentStore();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const started: { job: JobDoc; input: Record<string, unknown> }[] = [];
  const cp = createControlPlane({
    documents,
    clock: () => (now += 1000),
    keyWrapper: new AesKeyWrapper(randomBytes(32)),
    ingest: {
      issue: async () => {
        throw transient('no');
      },
    },
    probes: [],
    launcher: { start: async (job, input) => void started.push({ job, input }) },
  });
  const machine: MachineDoc = {
    id: M,
    siteId: 's',
    hostname: 'h',
    os: 'linux',
    enrolledAt: new Date(now).toISOString(),
    credentialHash: 'x',
    keyId: 'k1',
  };
  await documents.collection<MachineDoc>(collectionsDefs.machines).create(machine);
  for (const id of ['a', 'b'])
    await cp.machines.addDisk(M, { id, sizeBytes: 8 * MiB, logicalSectorSize: 512 });
  const items = documents.collection<ProtectedItemDoc>(collectionsDefs.protectedItems);
  let enableJob: JobDoc | undefined;
  if (state) {
    enableJob = await cp.jobs.create('enable-protection', { machineId: M });
    await items.create({
      id: M,
      machineId: M,
      siteId: 's',
      state,
      disks: ['a', 'b'],
      policy: 'default',
      jobId: enableJob.id,
      createdAt: machine.enrolledAt,
      updatedAt: machine.enrolledAt,
      history: [],
    });
  }
  const repl = replicationCollectionsOf(documents).disks;
  /** What the hydrator records for (disk, generation). */
  const hydrated = async (
    diskId: string,
    generation: number,
    patch: { complete?: boolean; stopped?: boolean; appliedSeq?: number },
  ) => {
    const id = diskDocId(diskId, generation);
    const cur = await repl.get(M, id);
    const doc = cur?.doc ?? newDiskDoc(M, diskId, generation, 8 * MiB, now);
    await repl.upsert({
      ...doc,
      ...(patch.complete ? { complete: true } : {}),
      ...(patch.appliedSeq ? { appliedSeq: patch.appliedSeq } : {}),
      // Stopped now, as stopDisk records it (the automatic resync's back-off reads it).
      ...(patch.stopped
        ? { stopped: { reason: 'integrity', at: new Date(now).toISOString() } }
        : {}),
    });
  };
  const advance = (ms: number) => void (now += ms);
  return { cp, documents, started, hydrated, enableJob, advance };
}
