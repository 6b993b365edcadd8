import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { badRequest, conflict } from './armError';
import {
  armJson,
  checkLocation,
  deleteReply,
  idOfRequest,
  props,
  putReply,
  tagsOf,
} from './armJson';
import type { StoredResource } from './armStore';
import { DISK, SNAPSHOT } from './computeTypes';
import { diskContent } from './diskContent';
import { copySparse, writeDigestMap } from './diskFiles';

const GiB = 1024 ** 3;
const SKUS = [
  'Standard_LRS',
  'StandardSSD_LRS',
  'Premium_LRS',
  'PremiumV2_LRS',
  'UltraSSD_LRS',
  'StandardSSD_ZRS',
  'Premium_ZRS',
];

function checkSku(sku: string): string {
  if (!SKUS.includes(sku))
    throw badRequest('InvalidParameter', `The value '${sku}' of parameter 'sku.name' is invalid.`);
  return sku;
}

/**
 * Microsoft.Compute disks and snapshots. A managed disk is a raw sparse file the VM's QEMU
 * writes; a snapshot is a sparse copy of it (taken while the VM runs, crash-consistent as in
 * Azure), incremental ones with a block digest map so that the changed ranges between two of
 * them are exactly what the VM wrote. Read access is granted as a URL on the endpoint itself
 * that serves the bytes and page ranges, the way a managed disk's SAS does in Azure.
 */
export class DiskProvider {
  constructor(private readonly ctx: ArmContext) {
    mkdirSync(ctx.dataDir, { recursive: true, mode: 0o700 });
  }

  private fileFor(kind: string): string {
    return join(this.ctx.dataDir, `${kind}-${randomUUID()}.raw`);
  }

  put(req: ArmRequest): ArmReply {
    this.ctx.requireGroup(req.route.subscription, req.route.resourceGroup);
    const id = idOfRequest(req);
    const existing = this.ctx.store.get(id);
    const location = checkLocation(this.ctx, req.body);
    const p = props(req.body);
    const creationData = (p.creationData as Record<string, unknown> | undefined) ?? {};
    if (existing) {
      // Only tags and SKU change on an existing disk; its creation is history.
      const was = existing.properties.creationData as Record<string, unknown>;
      if (
        was.createOption !== creationData.createOption ||
        was.sourceResourceId !== creationData.sourceResourceId ||
        was.sourceUri !== creationData.sourceUri
      ) {
        throw conflict(
          'PropertyChangeNotAllowed',
          "Changing property 'creationData' is not allowed.",
        );
      }
      const sku = (req.body.sku as { name?: string } | undefined)?.name;
      if (sku !== undefined && existing.type === DISK) checkSku(sku);
      const updated = this.ctx.store.put({
        ...existing,
        tags: tagsOf(req.body),
        ...(sku !== undefined && existing.type === DISK ? { sku: { name: sku } } : {}),
      });
      return putReply(
        false,
        updated,
        this.ctx.begin(req, req.route.type, id, async () => undefined),
      );
    }
    return req.route.type === SNAPSHOT
      ? this.snapshot(req, id, location, p)
      : this.disk(req, id, location, p, creationData);
  }

  private disk(
    req: ArmRequest,
    id: string,
    location: string,
    p: Record<string, unknown>,
    cd: Record<string, unknown>,
  ): ArmReply {
    const sku = checkSku((req.body.sku as { name?: string } | undefined)?.name ?? 'Standard_LRS');
    const file = this.fileFor('disk');
    const work = diskContent(this.ctx, req.route.name, cd, p, file);
    const r = this.ctx.store.put({
      id,
      type: DISK,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      sku: { name: sku },
      properties: {
        creationData: cd,
        ...(p.osType ? { osType: p.osType } : {}),
        ...(p.hyperVGeneration ? { hyperVGeneration: p.hyperVGeneration } : {}),
        diskState: 'Unattached',
        uniqueId: randomUUID(),
        timeCreated: new Date().toISOString(),
        provisioningState: 'Creating',
      },
      local: { file },
    });
    return putReply(
      true,
      r,
      this.fill(req, DISK, id, file, async () => {
        const bytes = await work();
        return { diskSizeBytes: bytes, diskSizeGB: Math.ceil(bytes / GiB) };
      }),
    );
  }

  private snapshot(
    req: ArmRequest,
    id: string,
    location: string,
    p: Record<string, unknown>,
  ): ArmReply {
    const cd = (p.creationData as Record<string, unknown> | undefined) ?? {};
    if (cd.createOption !== 'Copy')
      throw badRequest('InvalidParameter', "A snapshot's createOption must be 'Copy' here.");
    const src = this.ctx.store.get(String(cd.sourceResourceId ?? ''));
    if (!src || src.type !== DISK)
      throw badRequest(
        'InvalidParameter',
        `Source resource '${String(cd.sourceResourceId)}' is not an existing managed disk.`,
      );
    const incremental = p.incremental === true;
    const file = this.fileFor('snap');
    const digests = incremental ? `${file}.digests` : undefined;
    const r = this.ctx.store.put({
      id,
      type: SNAPSHOT,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      sku: { name: 'Standard_LRS' },
      properties: {
        creationData: {
          createOption: 'Copy',
          sourceResourceId: src.id,
          sourceUniqueId: src.properties.uniqueId,
        },
        incremental,
        diskSizeBytes: src.properties.diskSizeBytes,
        diskSizeGB: src.properties.diskSizeGB,
        uniqueId: randomUUID(),
        timeCreated: new Date().toISOString(),
        provisioningState: 'Creating',
      },
      local: { file, ...(digests ? { digests } : {}) },
    });
    return putReply(
      true,
      r,
      this.fill(req, SNAPSHOT, id, file, async () => {
        await copySparse(src.local!.file!, file);
        if (digests) writeDigestMap(file, digests);
        return {};
      }),
    );
  }

  /**
   * The create operation of a disk or snapshot: `work` fills its file and answers the
   * properties it learnt; a failure leaves no file and the resource Failed.
   */
  private fill(
    req: ArmRequest,
    type: string,
    id: string,
    file: string,
    work: () => Promise<Record<string, unknown>>,
  ): Record<string, string> {
    return this.ctx.begin(req, type, id, async () => {
      try {
        const extra = await work();
        const r = this.ctx.store.get(id);
        if (r)
          this.ctx.store.put({
            ...r,
            properties: { ...r.properties, ...extra, provisioningState: 'Succeeded' },
          });
      } catch (e) {
        rmSync(file, { force: true });
        this.ctx.provisioned(id, 'Failed');
        throw e;
      }
      return undefined;
    });
  }

  delete(req: ArmRequest): ArmReply {
    const id = idOfRequest(req);
    const r = this.ctx.store.get(id);
    if (!r) return deleteReply();
    if (r.managedBy)
      throw conflict('OperationNotAllowed', `Disk ${r.name} is attached to VM ${r.managedBy}.`);
    this.ctx.provisioned(id, 'Deleting');
    return deleteReply(
      this.ctx.begin(req, r.type, id, async () => {
        this.ctx.store.delete(id);
        for (const f of [r.local?.file, r.local?.digests]) if (f) rmSync(f, { force: true });
        return undefined;
      }),
    );
  }

  grantAccess(req: ArmRequest, r: StoredResource): ArmReply {
    const seconds = Number((req.body as { durationInSeconds?: unknown }).durationInSeconds ?? 3600);
    if (!Number.isInteger(seconds) || seconds < 1)
      throw badRequest('InvalidParameter', 'durationInSeconds must be a positive integer.');
    if ((req.body as { access?: string }).access !== 'Read')
      throw badRequest('InvalidParameter', "Only 'Read' access is granted by the local endpoint.");
    const token = randomBytes(24).toString('base64url');
    return {
      status: 202,
      headers: this.ctx.begin(req, r.type, r.id, async () => {
        const now = this.ctx.store.get(r.id);
        if (!now)
          throw badRequest('ResourceNotFound', `The Resource '${r.type}/${r.name}' was not found.`);
        this.ctx.store.put({
          ...now,
          properties: {
            ...now.properties,
            ...(now.type === DISK ? { diskState: now.managedBy ? 'Attached' : 'ActiveSAS' } : {}),
          },
          local: { ...now.local, accessToken: token, accessExpiresAt: Date.now() + seconds * 1000 },
        });
        return {
          accessSAS: `${this.ctx.baseUrl}/haven/disk-access/${encodeURIComponent(r.name)}?sig=${token}`,
        };
      }),
    };
  }

  revokeAccess(req: ArmRequest, r: StoredResource): ArmReply {
    return {
      status: 202,
      headers: this.ctx.begin(req, r.type, r.id, async () => {
        const now = this.ctx.store.get(r.id);
        if (now) {
          const { accessToken: _t, accessExpiresAt: _e, ...local } = now.local ?? {};
          this.ctx.store.put({
            ...now,
            properties: {
              ...now.properties,
              ...(now.type === DISK
                ? { diskState: now.managedBy ? 'Attached' : 'Unattached' }
                : {}),
            },
            local,
          });
        }
        return undefined;
      }),
    };
  }

  /** The disk or snapshot an access URL's token opens (expired grants open nothing). */
  byAccessToken(token: string): StoredResource | undefined {
    return this.ctx.store.list(
      (r) => r.local?.accessToken === token && (r.local.accessExpiresAt ?? 0) > Date.now(),
    )[0];
  }

  view(r: StoredResource): Record<string, unknown> {
    return armJson(r);
  }
}
