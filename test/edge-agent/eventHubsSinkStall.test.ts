import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBatch, MAX_INLINE_EVENT_BYTES } from '../../core/batch';
import type { IngestCredentials } from '../../core/controlPlane/ingest';
import { claimUploadBudgetMs, EventHubsSink } from '../../edge-agent/eventHubsSink';
import { spoolEntry } from './support/testData';

/**
 * A storage endpoint that accepts connections and never answers (a stalled PUT): the claim
 * check's upload must end within its budget, or it would hold its envelope forever (the storage
 * SDK has no client-side timeout of its own). A stalled Event Hubs send is the Sender's to give
 * up (senderBudget.test.ts).
 */
describe('EventHubsSink against a storage peer that never answers', { timeout: 60_000 }, () => {
  let hole: Server;
  let port = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    hole = createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    port = (hole.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => hole.close(r));
  });

  const later = new Date(Date.now() + 3_600_000).toISOString();
  const creds = (): Promise<IngestCredentials> =>
    Promise.resolve({
      eventHubs: {
        endpoint: `sb://127.0.0.1:${port}/`,
        hub: 'haven-batches',
        publisher: 'm-stall',
        resourceUri: `sb://127.0.0.1:${port}/haven-batches`,
        sasToken: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=root',
        expiresAt: later,
        useDevelopmentEmulator: true,
      },
      blob: {
        containerUrl: `http://127.0.0.1:${port}/devstoreaccount1/incoming-m-stall`,
        container: 'incoming-m-stall',
        prefix: 'm-stall/',
        sas: 'sv=2024-01-01&sig=z',
        permissions: 'cw',
        expiresAt: later,
      },
    });
  const key = Buffer.alloc(32, 3);
  const base = { machineId: 'm-stall', diskId: 'd1', generation: 1, diskSize: 2 ** 26, keyId: 'k' };

  it('gives up a claim-check upload within its budget', async () => {
    const big = encodeBatch(
      { ...base, seq: 2 },
      [{ kind: 'data', offset: 0, data: randomBytes(2 * 2 ** 20) }],
      key,
    );
    expect(big.length).toBeGreaterThan(MAX_INLINE_EVENT_BYTES);
    const sink = new EventHubsSink('m-stall', creds);
    const t0 = Date.now();
    const error = await sink.send([{ entry: spoolEntry(2, big.length), envelope: big }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    const seconds = (Date.now() - t0) / 1000;
    await sink.close();
    expect((error as Error | undefined)?.name).toBe('AbortError');
    expect(held.length).toBeGreaterThanOrEqual(1); // the PUT reached the peer
    // 15 s + 2.1 s for 2 MiB; it never ends without the budget.
    expect(seconds).toBeGreaterThan(15);
    expect(seconds).toBeLessThan(claimUploadBudgetMs(big.length) / 1000 + 10);
  });
});
