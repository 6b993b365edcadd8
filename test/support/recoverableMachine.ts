import type { Root } from '../../app/root';
import { REPLICAS, replicaBlobName, replicaBlobSize } from '../../core/replication/names';
import type { RecoveryPointDoc } from '../../core/replication/state';

/**
 * A machine ready to be recovered without the data path: enrolled with `disks`, `protected`,
 * replica page blobs in Azurite, and materialized recovery points made of real snapshots (the
 * base-blob copies a recovery makes are real). For saga tests and the recovery bench.
 */
export async function recoverableMachine(
  root: Root,
  disks: Record<string, number>,
): Promise<string> {
  const cp = root.controlPlane;
  const site = `s${Math.random().toString(36).slice(2, 8)}`;
  await cp.sites.create({ name: site });
  const { token } = await cp.enrollment.issueToken(site, { ttlSeconds: 600 });
  const { machineId } = await cp.enrollment.enroll({
    token,
    hostname: 'srv1',
    os: 'linux',
    disks: Object.entries(disks).map(([id, sizeBytes]) => ({
      id,
      sizeBytes,
      logicalSectorSize: 512,
    })),
  });
  await seedProtected(root, machineId, disks);
  return machineId;
}

/** Marks an enrolled machine `protected` and creates its generation-1 replicas. */
export async function seedProtected(
  root: Root,
  machineId: string,
  disks: Record<string, number>,
): Promise<void> {
  const now = new Date().toISOString();
  await root.controlPlane.protectedItems.create({
    id: machineId,
    machineId,
    siteId: (await root.controlPlane.machines.getDoc(machineId)).doc.siteId,
    state: 'protected',
    disks: Object.keys(disks).sort(),
    policy: 'default',
    jobId: 'job-enable',
    createdAt: now,
    updatedAt: now,
    history: [],
  });
  const { blobs } = root.replication.deps;
  await blobs.ensureContainer(REPLICAS);
  for (const [d, size] of Object.entries(disks))
    await blobs.createPageBlob(REPLICAS, replicaBlobName(machineId, d, 1), replicaBlobSize(size));
}

/**
 * A materialized point `id`, newest so far: `write` (default: one marked sector) goes into each
 * disk's replica, then one snapshot per disk.
 */
export async function addPoint(
  root: Root,
  machineId: string,
  id: string,
  write?: (diskId: string, blob: string, n: number) => Promise<void>,
): Promise<void> {
  const { blobs, docs } = root.replication.deps;
  const n = (await docs.points.query({ partitionKey: machineId, limit: 1000 })).items.length;
  const item = (await root.controlPlane.protectedItems.get(machineId)).doc;
  const sizes = new Map(
    (await root.controlPlane.machines.listDisks(machineId)).map((d) => [d.id, d.sizeBytes]),
  );
  const disks = [];
  for (const d of item.disks) {
    const blob = replicaBlobName(machineId, d, 1);
    if (write) await write(d, blob, n);
    else await blobs.uploadPages(REPLICAS, blob, 0, Buffer.alloc(512, n + 1));
    const snapshot = await blobs.createSnapshot(REPLICAS, blob);
    disks.push({
      diskId: d,
      generation: 1,
      seq: n + 1,
      blob,
      snapshot,
      sha256: 'x',
      sizeBytes: sizes.get(d)!,
      changes: '',
      changedBlocks: 0,
    });
  }
  const time = new Date(Date.now() + n).toISOString();
  await docs.points.create({
    id,
    type: 'point',
    machineId,
    time,
    consistency: 'crash',
    generation: 1,
    disks,
    publishedAt: time,
  } as RecoveryPointDoc);
}
