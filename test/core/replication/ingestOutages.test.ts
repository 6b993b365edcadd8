import { describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { data, harness } from './support';

const MiB = 1024 * 1024;

describe('ingest', () => {
  it('storage outages throw (the checkpoint must not advance); rejections do not', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 512)]);
    (h.blobs as MemoryBlobStore).down = true;
    await expect(
      ingestEvents(h.deps, h.opts, [
        { body: Buffer.from('junk'), partitionKey: m.machineId },
        { body: env, partitionKey: m.machineId },
      ]),
    ).rejects.toMatchObject({
      kind: 'transient',
    });
    (h.blobs as MemoryBlobStore).down = false;
    const out = await ingestEvents(h.deps, h.opts, [
      { body: Buffer.from('junk'), partitionKey: m.machineId },
      { body: env, partitionKey: m.machineId },
    ]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'staged']);
  });

  it('an unreachable storage account is transient too (real SDK)', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    h.deps.blobs = new AzureBlobStore(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1',
    );
    await expect(
      ingestEvent(h.deps, h.opts, { body: d.batch([data(0, 512)]), partitionKey: m.machineId }),
    ).rejects.toMatchObject({ kind: 'transient' });
  });
});
