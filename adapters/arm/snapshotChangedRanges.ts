import type { ByteRange, ResourceId } from '../../core/recovery/ports';
import type { ArmClients } from './armClients';
import { parseId } from './armViews';

/**
 * The byte ranges a snapshot holds, or that changed since a base snapshot of the same disk:
 * the page list of its access URI (a diff with `x-ms-previous-snapshot-url`), read under
 * short read grants that are revoked however it ends.
 */
export async function snapshotChangedRanges(
  c: ArmClients,
  snapshotId: ResourceId,
  baseSnapshotId?: ResourceId,
): Promise<ByteRange[]> {
  const grant = async (id: string) => {
    const { resourceGroup, name } = parseId(id);
    const r = await c.compute.snapshots.grantAccess(resourceGroup, name, {
      access: 'Read',
      durationInSeconds: 3600,
    });
    if (!r.accessSAS) throw new Error(`No access URI for ${id}`);
    return r.accessSAS;
  };
  const ids = [snapshotId, ...(baseSnapshotId ? [baseSnapshotId] : [])];
  const [sas, baseSas] = await Promise.all(ids.map(grant));
  try {
    const res = await c.sas(
      `${sas}&comp=pagelist`,
      baseSas ? { 'x-ms-previous-snapshot-url': baseSas } : {},
    );
    if (res.status !== 200)
      throw Object.assign(new Error(res.bodyAsText ?? `HTTP ${res.status}`), {
        statusCode: res.status,
      });
    return [
      ...(res.bodyAsText ?? '').matchAll(
        /<PageRange><Start>(\d+)<\/Start><End>(\d+)<\/End><\/PageRange>/g,
      ),
    ].map((m) => ({ offset: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1 }));
  } finally {
    await Promise.all(
      ids.map((id) => {
        const { resourceGroup, name } = parseId(id);
        return c.compute.snapshots.revokeAccess(resourceGroup, name).catch(() => undefined);
      }),
    );
  }
}
