import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureBlobStore } from '../../adapters/blobs/azureBlobStore';
import { EventGridBlobEvents } from '../../adapters/blobs/blobEvents';
import { CosmosDocumentStore } from '../../adapters/documents/cosmosDocumentStore';
import { encodeBatch, type BatchBookmark } from '../../core/batch';
import { drainDisk } from '../../core/replication/hydrate';
import { ingestEvents } from '../../core/replication/ingestEvents';
import { DEFAULT_REPLICATION_OPTIONS, type ReplicationDeps } from '../../core/replication/ports';
import { replicationCollections, replicationCollectionsOf } from '../../core/replication/state';
import { startAzurite } from '../../local/stack/azurite';
import { startCosmos } from '../../local/stack/cosmos';
import type { BenchRow } from './row';

/**
 * Hydrate, two workloads. (1) Throughput: a stream of 4 MiB batches (sealed with AES-GCM, staged through ingest)
 * applied to a replica page blob in seq order — decrypt + verify, page writes, digest index,
 * ETag-checked watermark in Cosmos, staged blob delete. Baseline: raw `uploadPages` of the same
 * bytes in 4 MiB pages, 4 in flight, into the same Azurite, measured in the same run.
 * (2) Random churn, as a hydrator that fell behind sees it: batches of random 4–64 KiB writes
 * (80 ms windows of a 50 MB/s writer) with a bookmark every 10 batches, all staged, then one
 * drain on Azurite with disk persistence (as the stack runs it). Reported: page writes per MB
 * and MB/s, against the same extents written one page write each (32 in flight, unmerged):
 * what merging saves when a page blob takes ~500 requests/s.
 */
const MB = 1e6;
const MiB = 1024 * 1024;

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const total = (quick ? 64 : 512) * MiB;
  const azurite = await startAzurite();
  const cosmos = await startCosmos();
  try {
    const documents = new CosmosDocumentStore({
      endpoint: cosmos.endpoint,
      key: cosmos.key,
      database: 'bench',
    });
    await documents.ensure(replicationCollections());
    const key = randomBytes(32);
    const machineId = 'bench-m';
    const deps: ReplicationDeps = {
      blobs: new AzureBlobStore(azurite.connectionString),
      events: new EventGridBlobEvents(),
      docs: replicationCollectionsOf(documents),
      machines: {
        getMachine: async () => ({
          machineId,
          disks: [{ diskId: 'd0', sizeBytes: total, protected: true }],
        }),
        listMachineIds: async () => [machineId],
      },
      keys: { getDataKey: async () => key },
      clock: Date.now,
    };
    const opts = { ...DEFAULT_REPLICATION_OPTIONS };

    // Batches: 4 MiB of incompressible data each (codec none: this measures the write path).
    const chunk = 4 * MiB;
    const payload = randomBytes(chunk);
    const envelopes: Buffer[] = [];
    for (let off = 0, seq = 1; off < total; off += chunk, seq++) {
      envelopes.push(
        encodeBatch(
          { machineId, diskId: 'd0', generation: 1, seq, diskSize: total, keyId: 'k' },
          [{ kind: 'data', offset: off, data: payload }],
          key,
          { codec: 'none' },
        ),
      );
    }
    const t0 = process.hrtime.bigint();
    const staged = await ingestEvents(
      deps,
      opts,
      envelopes.map((body) => ({ body, partitionKey: machineId })),
      4,
    );
    const ingestSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (staged.some((s) => s.status !== 'staged')) throw new Error('bench: a batch was not staged');

    const t1 = process.hrtime.bigint();
    const r = await drainDisk(deps, opts, { machineId, diskId: 'd0', generation: 1 });
    const hydrateSecs = Number(process.hrtime.bigint() - t1) / 1e9;
    if (r.appliedSeq !== envelopes.length)
      throw new Error(`bench: applied ${r.appliedSeq} of ${envelopes.length}`);

    const rawSecs = await rawUploadPages(azurite.connectionString, total, payload);
    const rate = (secs: number) => total / MB / secs;
    const size = `${Math.round(total / MiB)} MiB`;
    const churn = await randomChurn(quick);
    return [
      ...churn,
      {
        name: `hydrate ${size} (4 MiB batches)`,
        value: rate(hydrateSecs),
        unit: 'MB/s',
        baselineName: 'raw uploadPages 4 MiB ×4',
        baselineValue: rate(rawSecs),
        ratio: rawSecs / hydrateSecs,
        note: 'higher is better; includes staged read, AEAD verify, digest index, watermark, delete',
      },
      {
        name: `ingest ${size} (verify + stage)`,
        value: rate(ingestSecs),
        unit: 'MB/s',
        baselineName: 'raw uploadPages 4 MiB ×4',
        baselineValue: rate(rawSecs),
        ratio: rawSecs / ingestSecs,
        note: 'higher is better; inline envelopes, 4 in flight',
      },
    ];
  } finally {
    await Promise.all([azurite.stop(), cosmos.stop()]);
  }
}

/** Scenario (2): random churn staged while the hydrator is behind, then one merged drain. */
async function randomChurn(quick: boolean): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-hydrate-'));
  const azurite = await startAzurite({ location: join(dir, 'azurite') });
  const cosmos = await startCosmos();
  try {
    const diskSize = (quick ? 256 : 1024) * MiB;
    const churnBytes = (quick ? 100 : 500) * 1e6;
    const documents = new CosmosDocumentStore({
      endpoint: cosmos.endpoint,
      key: cosmos.key,
      database: 'benchchurn',
    });
    await documents.ensure(replicationCollections());
    const key = randomBytes(32);
    const machineId = 'bench-churn';
    const deps: ReplicationDeps = {
      blobs: new AzureBlobStore(azurite.connectionString),
      events: new EventGridBlobEvents(),
      docs: replicationCollectionsOf(documents),
      machines: {
        getMachine: async () => ({
          machineId,
          disks: [{ diskId: 'd0', sizeBytes: diskSize, protected: true }],
        }),
        listMachineIds: async () => [machineId],
      },
      keys: { getDataKey: async () => key },
      clock: Date.now,
    };
    const opts = { ...DEFAULT_REPLICATION_OPTIONS };
    const pool = randomBytes(64 * MiB);
    const perBatch = 4e6; // 80 ms of a 50 MB/s writer (a batch holds ≤ 4 MiB of data)
    const extents: { offset: number; data: Buffer }[][] = [];
    for (let total = 0; total < churnBytes;) {
      // One batch window: random writes, coalesced (sorted, disjoint) as the agent sends them.
      const taken = new Map<number, Buffer>();
      for (let b = 0; b < perBatch;) {
        const len = 4096 * (1 + randomInt(16));
        const off = 4096 * randomInt((diskSize - len) / 4096);
        const src = 4096 * randomInt((pool.length - len) / 4096);
        taken.set(off, pool.subarray(src, src + len));
        b += len;
      }
      const sorted = [...taken].sort((a, z) => a[0] - z[0]);
      const list: { offset: number; data: Buffer }[] = [];
      for (const [offset, data] of sorted) {
        const prev = list[list.length - 1];
        if (prev && prev.offset + prev.data.length > offset) continue; // overlapping: skip
        list.push({ offset, data });
      }
      extents.push(list);
      total += list.reduce((n, e) => n + e.data.length, 0);
    }
    const bytes = extents.flat().reduce((n, e) => n + e.data.length, 0);
    const writes = extents.flat().length;
    const envelopes = extents.map((list, i) => {
      const bookmark: BatchBookmark | undefined =
        i % 10 === 9 || i === extents.length - 1
          ? { id: `bm-${i}`, consistency: 'crash', createdAt: new Date().toISOString() }
          : undefined;
      return encodeBatch(
        {
          machineId,
          diskId: 'd0',
          generation: 1,
          seq: i + 1,
          diskSize,
          keyId: 'k',
          ...(bookmark ? { bookmark } : {}),
        },
        list.map((e) => ({ kind: 'data' as const, offset: e.offset, data: e.data })),
        key,
        { codec: 'none' },
      );
    });
    const staged = await ingestEvents(
      deps,
      opts,
      envelopes.map((body) => ({ body, partitionKey: machineId })),
      4,
    );
    if (staged.some((s) => s.status !== 'staged')) throw new Error('bench: a batch was not staged');
    const t0 = process.hrtime.bigint();
    const r = await drainDisk(deps, opts, { machineId, diskId: 'd0', generation: 1 });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.appliedSeq !== envelopes.length)
      throw new Error(`bench: applied ${r.appliedSeq} of ${envelopes.length}`);
    // (NaN when run against a hydrator that does not count its requests.)
    const q = r.requests ?? {
      pageWrites: NaN,
      clears: NaN,
      readBacks: NaN,
      indexReads: NaN,
      indexWrites: NaN,
    };
    const pageWrites = q.pageWrites + q.clears;

    // Baseline: the same extents, one uploadPages each, 32 in flight, into a fresh page blob.
    const container = BlobServiceClient.fromConnectionString(
      azurite.connectionString,
    ).getContainerClient('rawchurn');
    await container.createIfNotExists();
    const raw = container.getPageBlobClient('raw.vhd');
    await raw.create(diskSize);
    const all = extents.flat();
    let next = 0;
    const r0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < all.length) {
          const e = all[next++]!;
          await raw.uploadPages(e.data, e.offset, e.data.length);
        }
      }),
    );
    const rawSecs = Number(process.hrtime.bigint() - r0) / 1e9;
    const mb = bytes / MB;
    const label = `${Math.round(mb)} MB of random 4–64 KiB writes into ${diskSize / MiB} MiB`;
    return [
      {
        name: `hydrate, random churn: page writes per MB (${label})`,
        value: pageWrites / mb,
        unit: 'req/MB',
        baselineName: 'one page write per write',
        baselineValue: writes / mb,
        ratio: pageWrites / writes,
        note: `lower is better; ${r.groups} merged groups for ${envelopes.length} batches (bookmark every 10), ${pageWrites} page writes; at 50 MB/s that needs ${Math.round((pageWrites / mb) * 50)}/s (a page blob takes ~500/s); read-backs ${q.readBacks}, index reads ${q.indexReads}, index writes ${q.indexWrites}`,
      },
      {
        name: `hydrate, random churn: MB/s (${label})`,
        value: mb / secs,
        unit: 'MB/s',
        baselineName: 'raw uploadPages, one per write, 32 in flight',
        baselineValue: mb / rawSecs,
        ratio: rawSecs / secs,
        note: `higher is better; drain ${secs.toFixed(1)} s (decrypt, merge, page writes, sub-block digests, index, watermark, snapshots at bookmarks) vs raw ${rawSecs.toFixed(1)} s; Azurite on disk`,
      },
    ];
  } finally {
    await Promise.all([azurite.stop(), cosmos.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rawUploadPages(connection: string, total: number, payload: Buffer): Promise<number> {
  const container =
    BlobServiceClient.fromConnectionString(connection).getContainerClient('rawbench');
  await container.createIfNotExists();
  const blob = container.getPageBlobClient('raw.vhd');
  await blob.create(total);
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    for (;;) {
      const off = next;
      next += payload.length;
      if (off >= total) return;
      await blob.uploadPages(payload, off, payload.length);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
