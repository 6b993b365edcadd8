import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  EventHubConsumerClient,
  earliestEventPosition,
  type ReceivedEventData,
} from '@azure/event-hubs';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SasIngestCredentialIssuer } from '../../adapters/ingestCredentials/sasIngestCredentialIssuer';
import {
  BATCH_CONTENT_TYPE,
  CLAIM_CONTENT_TYPE,
  MAX_INLINE_DATA_BYTES,
  MAX_INLINE_EVENT_BYTES,
  encodeBatch,
  parseBatchRef,
  peekHeader,
  verifyClaimedEnvelope,
  claimLocation,
  incomingContainerOf,
} from '../../core/batch';
import { EventHubsSink } from '../../edge-agent/eventHubsSink';
import {
  startEventHubsEmulator,
  type RunningEventHubsEmulator,
} from '../../local/eventhubs/emulator';
import { spoolEntry, tempDir } from './support/testData';

const HUB = 'haven-batches';

describe(
  'EventHubsSink against the local Event Hubs endpoint and Azurite',
  { timeout: 180_000 },
  () => {
    let dir: string;
    let emu: RunningEventHubsEmulator;
    const machineId = `m-${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      dir = await tempDir('sender');
      emu = await startEventHubsEmulator({
        dataDir: path.join(dir, 'eh'),
        hubs: [{ name: HUB, partitions: 2 }],
        keys: [{ name: 'root', key: randomBytes(32).toString('base64') }],
      });
    }, 180_000);
    afterAll(async () => {
      await emu.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    });

    it('sends small envelopes inline and large ones as claim checks, with the issued SAS', async () => {
      const storageConnection = inject('storageConnection');
      const issuer = new SasIngestCredentialIssuer({
        storage: storageConnection,
        eventHubs: { connection: emu.connectionString('root'), hub: HUB },
      });
      const sink = new EventHubsSink(machineId, () => issuer.issue(machineId));
      const key = randomBytes(32);
      const base = { machineId, diskId: 'd1', generation: 1, diskSize: 64 * 2 ** 20, keyId: 'k1' };
      const small = encodeBatch(
        { ...base, seq: 1 },
        [{ kind: 'data', offset: 0, data: Buffer.alloc(4096, 1) }],
        key,
      );
      const big = encodeBatch(
        { ...base, seq: 2 },
        [{ kind: 'data', offset: 2 ** 20, data: randomBytes(2 * 2 ** 20) }],
        key,
      );
      expect(big.length).toBeGreaterThan(MAX_INLINE_EVENT_BYTES);
      // Small once compressed, but more data than ingest decodes inline: a claim check too.
      const packed = encodeBatch(
        { ...base, seq: 3 },
        [
          {
            kind: 'data',
            offset: 8 * 2 ** 20,
            data: Buffer.alloc(MAX_INLINE_DATA_BYTES + 4096, 7),
          },
        ],
        key,
      );
      expect(packed.length).toBeLessThan(MAX_INLINE_EVENT_BYTES);
      await sink.send([
        { entry: spoolEntry(1, small.length), envelope: small },
        { entry: spoolEntry(2, big.length), envelope: big },
        { entry: spoolEntry(3, packed.length), envelope: packed },
      ]);
      await sink.close();

      const consumer = new EventHubConsumerClient('$Default', emu.connectionString('root'), HUB);
      const got: ReceivedEventData[] = [];
      await new Promise<void>((resolve, reject) => {
        const sub = consumer.subscribe(
          {
            processEvents: async (events) => {
              got.push(...events);
              if (got.length >= 3) void sub.close().then(resolve);
            },
            processError: async (e) => reject(e),
          },
          {
            startPosition: earliestEventPosition,
            maxWaitTimeInSeconds: 1,
            skipParsingBodyAsJson: true,
          },
        );
      });
      await consumer.close();
      expect(got).toHaveLength(3);
      const [a, b, c] = got.sort((x, y) => Number(x.properties?.seq) - Number(y.properties?.seq));
      expect(a!.partitionKey).toBe(machineId);
      expect(a!.contentType).toBe(BATCH_CONTENT_TYPE);
      expect(Buffer.from(a!.body as Uint8Array).equals(small)).toBe(true);
      expect(b!.contentType).toBe(CLAIM_CONTENT_TYPE);
      const ref = parseBatchRef(Buffer.from(b!.body as Uint8Array));
      expect(ref.blob.startsWith(`${incomingContainerOf(machineId)}/${machineId}/d1-1-2-`)).toBe(
        true,
      );
      const { container, name } = claimLocation(ref);
      const blob = await BlobServiceClient.fromConnectionString(storageConnection)
        .getContainerClient(container)
        .getBlobClient(name)
        .downloadToBuffer();
      expect(() => verifyClaimedEnvelope(ref, blob, peekHeader(blob))).not.toThrow();
      expect(c!.contentType).toBe(CLAIM_CONTENT_TYPE);
      expect(parseBatchRef(Buffer.from(c!.body as Uint8Array)).size).toBe(packed.length);
    });
  },
);
