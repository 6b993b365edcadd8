import { expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { RecordingBlobEvents } from '../../../adapters/blobs/blobEvents';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { CosmosDocumentStore } from '../../../adapters/documents/cosmosDocumentStore';
import {
  claimBlobPath,
  encodeBatch,
  makeBatchRef,
  peekHeader,
  type BatchBookmark,
  type BatchRef,
  type ExtentInput,
  incomingContainerOf,
} from '../../../core/batch';
import { DIGEST_BLOCK, blockDigest, treeDigest } from '../../../core/disk/digest';
import { notFound } from '../../../core/errors';
import type { BlobStore } from '../../../core/replication/blobPorts';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent, type IngestEvent } from '../../../core/replication/ingest';
import {
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import {
  DEFAULT_REPLICATION_OPTIONS,
  type KnownMachine,
  type MachineDirectory,
  type ReplicationDeps,
  type ReplicationOptions,
} from '../../../core/replication/ports';
import {
  diskDocId,
  replicationCollections,
  replicationCollectionsOf,
} from '../../../core/replication/state';
import { sharedStack, uniqueName } from '../../support/stack';

export class StaticDirectory implements MachineDirectory {
  readonly machines = new Map<string, KnownMachine>();
  /** The agent's heartbeat report, when a test sets one. */
  agentReport?: MachineDirectory['agentReport'];
  async getMachine(id: string) {
    return this.machines.get(id);
  }
  async listMachineIds() {
    return [...this.machines.keys()];
  }
}

export interface TestMachine {
  machineId: string;
  keyId: string;
  key: Buffer;
  disks: TestDisk[];
}

/** A source disk: the expected image plus the agent-side sequence counter. */
export class TestDisk {
  readonly image: Buffer;
  generation = 1;
  seq = 0;
  constructor(
    readonly machine: { machineId: string; keyId: string; key: Buffer },
    readonly diskId: string,
    readonly size: number,
  ) {
    this.image = Buffer.alloc(size);
  }

  /** Encodes the next batch (and applies it to the expected image). */
  batch(
    extents: ExtentInput[],
    bookmark?: BatchBookmark,
    o: { seq?: number; key?: Buffer; apply?: boolean } = {},
  ): Buffer {
    extents = [...extents].sort((a, b) => a.offset - b.offset);
    const seq = o.seq ?? ++this.seq;
    const env = encodeBatch(
      {
        machineId: this.machine.machineId,
        diskId: this.diskId,
        generation: this.generation,
        seq,
        diskSize: this.size,
        keyId: this.machine.keyId,
        ...(bookmark ? { bookmark } : {}),
      },
      extents,
      o.key ?? this.machine.key,
      { codec: 'none' },
    );
    if (o.apply !== false) {
      for (const e of extents) {
        if (e.kind === 'data') Buffer.from(e.data).copy(this.image, e.offset);
        else this.image.fill(0, e.offset, e.offset + e.length);
      }
    }
    return env;
  }

  digest(image = this.image): string {
    const ds: Buffer[] = [];
    for (let off = 0; off < image.length; off += DIGEST_BLOCK)
      ds.push(blockDigest(image.subarray(off, Math.min(off + DIGEST_BLOCK, image.length))));
    return treeDigest(ds, image.length);
  }
}

export const data = (offset: number, length: number, fill?: number): ExtentInput => ({
  kind: 'data',
  offset,
  data: fill === undefined ? randomBytes(length) : Buffer.alloc(length, fill),
});
export const zero = (offset: number, length: number): ExtentInput => ({
  kind: 'zero',
  offset,
  length,
});
export const bookmark = (
  id: string,
  createdAt = new Date().toISOString(),
  consistency: 'crash' | 'app' = 'crash',
): BatchBookmark => ({
  id,
  consistency,
  createdAt,
});

export interface Harness {
  deps: ReplicationDeps;
  opts: ReplicationOptions;
  directory: StaticDirectory;
  events: RecordingBlobEvents;
  keys: Map<string, Buffer>;
  blobs: BlobStore;
  addMachine(diskSizes: Record<string, number>, opts?: { protectedDisks?: string[] }): TestMachine;
}

/** Real Azurite (or memory blobs) + a fresh database on the shared Cosmos emulator. */
export async function harness(
  kind: 'azure' | 'memory' = 'azure',
  clock: () => number = Date.now,
): Promise<Harness> {
  const { storageConnection, cosmosEndpoint, cosmosKey } = sharedStack();
  const documents = new CosmosDocumentStore({
    endpoint: cosmosEndpoint,
    key: cosmosKey,
    database: uniqueName('repl'),
  });
  await documents.ensure(replicationCollections());
  const blobs = kind === 'azure' ? new AzureBlobStore(storageConnection) : new MemoryBlobStore();
  const directory = new StaticDirectory();
  const events = new RecordingBlobEvents();
  const keys = new Map<string, Buffer>();
  const deps: ReplicationDeps = {
    blobs,
    events,
    docs: replicationCollectionsOf(documents),
    machines: directory,
    keys: {
      async getDataKey(machineId, keyId) {
        const k = keys.get(`${machineId}/${keyId}`);
        if (!k) throw notFound('Data key', `${machineId}/${keyId}`);
        return k;
      },
    },
    clock,
  };
  return {
    deps,
    opts: { ...DEFAULT_REPLICATION_OPTIONS },
    directory,
    events,
    keys,
    blobs,
    addMachine(diskSizes, o = {}) {
      const machineId = uniqueName('m');
      const keyId = 'k1';
      const key = randomBytes(32);
      keys.set(`${machineId}/${keyId}`, key);
      const m = { machineId, keyId, key };
      const disks = Object.entries(diskSizes).map(([id, size]) => new TestDisk(m, id, size));
      directory.machines.set(machineId, {
        machineId,
        disks: disks.map((d) => ({
          diskId: d.diskId,
          sizeBytes: d.size,
          protected: o.protectedDisks ? o.protectedDisks.includes(d.diskId) : true,
        })),
      });
      return { ...m, disks };
    },
  };
}

/**
 * Does what the agent does for a large batch before sending its claim check: uploads `uploaded`
 * (the envelope itself unless a test tampers with it) where the reference to `env` points.
 */
export async function uploadClaim(h: Harness, env: Buffer, uploaded: Buffer = env) {
  const header = peekHeader(env);
  const claim = claimBlobPath(header);
  const container = incomingContainerOf(header.machineId);
  await h.blobs.ensureContainer(container);
  await h.blobs.putBlockBlob(container, claim, uploaded);
  return { header, claim, container, ref: makeBatchRef(header, env) };
}

/** The event carrying claim check `ref`, on the partition of the machine it names. */
export function refEvent(ref: BatchRef): IngestEvent {
  return { body: Buffer.from(JSON.stringify(ref)), partitionKey: ref.machineId };
}

/** Ingests the event carrying claim check `ref`. */
export function ingestRef(h: Harness, ref: BatchRef) {
  return ingestEvent(h.deps, h.opts, refEvent(ref));
}

/** Through a claim check, as large batches travel: staging then holds a pointer. */
export async function sendClaimed(h: Harness, env: Buffer) {
  const { ref } = await uploadClaim(h, env);
  const r = await ingestRef(h, ref);
  expect(r.status).toBe('staged');
}

/** The replica's disk bytes (without the VHD footer), or of one of its snapshots. */
export async function replicaBytes(h: Harness, disk: TestDisk, gen = 1, snapshot?: string) {
  return h.blobs.readRange(
    REPLICAS,
    replicaBlobName(disk.machine.machineId, disk.diskId, gen),
    0,
    disk.size,
    snapshot,
  );
}

/** The watermark document of (disk, generation). */
export async function watermark(h: Harness, disk: TestDisk, gen = 1) {
  return (await h.deps.docs.disks.get(disk.machine.machineId, diskDocId(disk.diskId, gen)))?.doc;
}

/** Ingests `env` inline, on the partition of `disk`'s machine. */
export async function send(h: Harness, disk: TestDisk, env: Buffer) {
  return ingestEvent(h.deps, h.opts, { body: env, partitionKey: disk.machine.machineId });
}

/** A fresh harness, one disk `d0` of `size` bytes, its first batch (4 KiB at 0) applied. */
export async function firstBatchApplied(size = 1024 * 1024) {
  const h = await harness();
  const m = h.addMachine({ d0: size });
  const d = m.disks[0]!;
  await send(h, d, d.batch([data(0, 4096, 1)]));
  await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
  return { h, m, d };
}

/** The rejections recorded on `machineId`'s partition. */
export async function rejections(h: Harness, machineId: string) {
  return (await h.deps.docs.rejections.query({ partitionKey: machineId })).items.map((i) => i.doc);
}

/** How many staged batches `machineId` has (waiting for hydrate). */
export async function stagedCount(h: Harness, machineId: string) {
  return (await h.blobs.list(STAGING, `${machineId}/`)).length;
}
