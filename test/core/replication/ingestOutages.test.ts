import { describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { getRecoveryPoint } from '../../../core/replication/recoveryPoints';
import { bookmark, data, harness, stagedCount } from './support';

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

  it('a staging write answered "exists" with no blob there is no duplicate: the point waits for the redelivery', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const env = d.batch([data(0, 4096, 7)], bookmark('p1'));
    const put = h.blobs.putBlockBlobIfAbsent.bind(h.blobs);
    // What a store that took any refusal of the write for "already there" answered (the
    // adapter's test pins the real one: storageRefusals.test.ts).
    h.blobs.putBlockBlobIfAbsent = async () => 'exists';
    const ev = { body: env, partitionKey: m.machineId };
    await expect(ingestEvents(h.deps, h.opts, [ev])).rejects.toMatchObject({ kind: 'transient' });
    const point = () => getRecoveryPoint(h.deps, m.machineId, 'p1').catch(() => undefined);
    expect(await point()).toBeUndefined(); // not durable: no blob holds its batch
    expect(await stagedCount(h, m.machineId)).toBe(0);
    h.blobs.putBlockBlobIfAbsent = put;
    expect((await ingestEvents(h.deps, h.opts, [ev])).map((o) => o.status)).toEqual(['staged']);
    expect(await point()).toMatchObject({ materialized: false });
  });
});
