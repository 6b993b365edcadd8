import { HavenError } from '../../core/errors';
import type { ResourceId, SnapshotReader } from '../../core/recovery/ports';
import type { ArmClients } from './armClients';
import { parseId } from './armViews';

/**
 * A snapshot opened for reading: one read grant (`snapshots.grantAccess`, the SDK's poller:
 * a grant takes a moment, not minutes), ranged GETs of its access URI, then revoke. The
 * access URI is a secret: it never leaves this object.
 */
export async function openSnapshotReader(
  c: ArmClients,
  snapshotId: ResourceId,
  seconds: number,
): Promise<SnapshotReader> {
  const { resourceGroup, name } = parseId(snapshotId);
  const snap = await c.compute.snapshots.get(resourceGroup, name);
  const sizeBytes = Number(snap.diskSizeBytes ?? (snap.diskSizeGB ?? 0) * 1024 ** 3);
  const granted = await c.compute.snapshots.grantAccess(resourceGroup, name, {
    access: 'Read',
    durationInSeconds: seconds,
  });
  const uri = granted.accessSAS;
  if (!uri) throw new HavenError('transient', `No access URI was granted for ${snapshotId}.`);
  return {
    sizeBytes,
    async read(offset, length) {
      for (let attempt = 1; ; attempt++) {
        const r = await c.sasBytes(uri, offset, length).catch((e: unknown) => ({
          status: 0,
          body: Buffer.alloc(0),
          error: e,
        }));
        if ((r.status === 206 || r.status === 200) && r.body.length >= length)
          return r.status === 200 ? r.body.subarray(offset, offset + length) : r.body;
        if (attempt >= 4 || (r.status >= 400 && r.status < 500))
          throw new HavenError(
            r.status >= 400 && r.status < 500 ? 'forbidden' : 'transient',
            `Reading snapshot ${name} at ${offset} failed (HTTP ${r.status}).`,
          );
        await new Promise((res) => setTimeout(res, 200 * 2 ** attempt));
      }
    },
    async close() {
      await c.compute.snapshots.revokeAccess(resourceGroup, name).catch(() => undefined);
    },
  };
}
