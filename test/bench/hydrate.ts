import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureBlobStore } from '../../adapters/blobs/azureBlobStore';
import { EventGridBlobEvents } from '../../adapters/blobs/blobEvents';
import { CosmosDocumentStore } from '../../adapters/documents/cosmosDocumentStore';
import { encodeBatch } from '../../core/batch';
import { drainDisk } from '../../core/replication/hydrate';
import { ingestEvents } from '../../core/replication/ingest';
import { DEFAULT_REPLICATION_OPTIONS, type ReplicationDeps } from '../../core/replication/ports';
import { replicationCollections, replicationCollectionsOf } from '../../core/replication/state';
import { startAzurite } from '../../local/stack/azurite';
import { startCosmos } from '../../local/stack/cosmos';
import type { BenchRow } from './row';

/**
 * Hydrate throughput: a stream of 4 MiB batches (sealed with AES-GCM, staged through ingest)
 * applied to a replica page blob in seq order — decrypt + verify, page writes, digest index,
 * ETag-checked watermark in Cosmos, staged blob delete. Baseline: raw `uploadPages` of the same
 * bytes in 4 MiB pages, 4 in flight, into the same Azurite, measured in the same run.
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
    return [
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
