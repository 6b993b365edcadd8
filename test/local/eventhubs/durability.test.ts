import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { earliestEventPosition, EventHubProducerClient } from '@azure/event-hubs';
import { spawnNode, stopChild, type Child } from '../../support/procs';
import { waitFor } from '../../support/waitFor';
import { KEY, readPartition, startTestEmulator, tempDir } from './helpers';

function connectionString(port: number): string {
  return `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=${KEY.name};SharedAccessKey=${KEY.key};UseDevelopmentEmulator=true`;
}

async function sendNumbered(
  cs: string,
  hub: string,
  from: number,
  count: number,
  size = 100,
  acked: number[] = [],
): Promise<void> {
  // Short attempts: the in-flight sender of the crash test must give up soon after the kill.
  const producer = new EventHubProducerClient(cs, hub, {
    retryOptions: { maxRetries: 0, timeoutInMs: 5000 },
  });
  try {
    for (let i = from; i < from + count; i += 10) {
      const events = [];
      for (let j = i; j < Math.min(i + 10, from + count); j++) {
        events.push({ body: Buffer.alloc(size, j % 251), properties: { n: j } });
      }
      await producer.sendBatch(events, { partitionId: String(i % 2) }); // resolves once settled
      for (const e of events) acked.push(e.properties.n);
    }
  } finally {
    await producer.close();
  }
}

async function readAll(
  cs: string,
  hub: string,
): Promise<Array<{ p: string; n: number; seq: number; offset: string }>> {
  const producer = new EventHubProducerClient(cs, hub);
  const out: Array<{ p: string; n: number; seq: number; offset: string }> = [];
  try {
    for (const p of await producer.getPartitionIds()) {
      const props = await producer.getPartitionProperties(p);
      const count = props.isEmpty
        ? 0
        : props.lastEnqueuedSequenceNumber - props.beginningSequenceNumber + 1;
      const events = await readPartition(cs, hub, p, earliestEventPosition, count);
      for (const e of events)
        out.push({ p, n: e.properties!.n as number, seq: e.sequenceNumber, offset: e.offset });
    }
  } finally {
    await producer.close();
  }
  return out;
}

/** `local/eventhubs/main` (built) as a process on `dataDir`, so it can be SIGKILLed. */
async function startChild(dataDir: string): Promise<{ c: Child; port: number }> {
  const c = spawnNode('local/eventhubs/main.ts', [
    '--data-dir',
    dataDir,
    '--hub',
    'hub:2',
    '--key',
    `${KEY.name}:${KEY.key}`,
  ]);
  const line = await c.waitForOutput(/^(\{.*\})$/m, { stream: 'stdout' });
  return { c, port: (JSON.parse(line[1]!) as { port: number }).port };
}

describe('durability of the local Event Hubs endpoint', () => {
  const children: Child[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c, 'SIGKILL')));
  });

  it('keeps every settled event, with the same numbers and offsets, across a stop and restart', async () => {
    const first = await startTestEmulator({ hubs: [{ name: 'hub', partitions: 2 }] });
    await sendNumbered(first.connectionString(), 'hub', 0, 60);
    const before = await readAll(first.connectionString(), 'hub');
    await first.stop();

    const second = await startTestEmulator({
      dataDir: first.dataDir,
      hubs: [{ name: 'hub', partitions: 2 }],
    });
    try {
      const after = await readAll(second.connectionString(), 'hub');
      expect(after).toEqual(before);
      expect(after.map((e) => e.n).sort((a, b) => a - b)).toEqual([...Array(60).keys()]);
      await sendNumbered(second.connectionString(), 'hub', 60, 20);
      const more = await readAll(second.connectionString(), 'hub');
      for (const p of ['0', '1']) {
        const seqs = more.filter((e) => e.p === p).map((e) => e.seq);
        expect(seqs).toEqual([...Array(seqs.length).keys()]); // numbering continues densely
      }
      expect(more.length).toBe(80);
    } finally {
      await second.stop();
    }
  });

  it('keeps every settled event when the endpoint process is SIGKILLed', async () => {
    const dataDir = tempDir();
    const a = await startChild(dataDir);
    children.push(a.c);
    await sendNumbered(connectionString(a.port), 'hub', 0, 200, 4096);
    // Unacknowledged traffic in flight at the moment of the kill may or may not survive; acknowledged must.
    const acked: number[] = [];
    const inflight = sendNumbered(connectionString(a.port), 'hub', 1000, 5000, 4096, acked).catch(
      () => undefined,
    );
    // Kill while acknowledged sends are streaming in.
    await waitFor('50 acknowledged sends', () => acked.length >= 50, { intervalMs: 5 });
    await stopChild(a.c, 'SIGKILL');
    await inflight;

    const b = await startChild(dataDir);
    children.push(b.c);
    const events = await readAll(connectionString(b.port), 'hub');
    const ns = new Set(events.map((e) => e.n));
    for (let i = 0; i < 200; i++) expect(ns.has(i)).toBe(true);
    expect(acked.length).toBeGreaterThanOrEqual(50);
    for (const n of acked) expect(ns.has(n)).toBe(true);
    for (const p of ['0', '1']) {
      const seqs = events.filter((e) => e.p === p).map((e) => e.seq);
      expect(seqs).toEqual([...Array(seqs.length).keys()]);
    }
    // New events continue the numbering after the recovered tail.
    const producer = new EventHubProducerClient(connectionString(b.port), 'hub');
    const before = await producer.getPartitionProperties('0');
    await producer.sendBatch([{ body: 'after-crash', properties: { n: -1 } }], {
      partitionId: '0',
    });
    const after = await producer.getPartitionProperties('0');
    expect(after.lastEnqueuedSequenceNumber).toBe(before.lastEnqueuedSequenceNumber + 1);
    await producer.close();
    await stopChild(b.c, 'SIGTERM');
  });

  it('retention drops whole old segments at the head and the beginning moves forward', async () => {
    const hubs = [{ name: 'hub', partitions: 2, retentionHours: 0.5 / 3600 }]; // half a second
    const first = await startTestEmulator({ hubs, segmentBytes: 4096 });
    await sendNumbered(first.connectionString(), 'hub', 0, 40, 1000);
    await first.stop();
    const segmentsBefore = readdirSync(join(first.dataDir, 'hub', '0')).filter((f) =>
      f.endsWith('.log'),
    );
    expect(segmentsBefore.length).toBeGreaterThan(2);
    await new Promise((r) => setTimeout(r, 700));

    const second = await startTestEmulator({ dataDir: first.dataDir, hubs, segmentBytes: 4096 });
    try {
      const segmentsAfter = readdirSync(join(first.dataDir, 'hub', '0')).filter((f) =>
        f.endsWith('.log'),
      );
      expect(segmentsAfter).toEqual(segmentsBefore.slice(-1)); // only the active segment is left
      const producer = new EventHubProducerClient(second.connectionString(), 'hub');
      const props = await producer.getPartitionProperties('0');
      expect(props.beginningSequenceNumber).toBeGreaterThan(0);
      const tail = await readPartition(
        second.connectionString(),
        'hub',
        '0',
        earliestEventPosition,
        props.lastEnqueuedSequenceNumber - props.beginningSequenceNumber + 1,
      );
      expect(tail[0]!.sequenceNumber).toBe(props.beginningSequenceNumber);
      expect(Number(tail[0]!.offset)).toBe(Number(segmentsAfter[0]!.slice(0, 20)));
      expect(statSync(join(first.dataDir, 'hub', '0', segmentsAfter[0]!)).size).toBeGreaterThan(0);
      await producer.close();
    } finally {
      await second.stop();
    }
  });

  it('retention also runs while the endpoint is up; readers from earliest start at the new beginning', async () => {
    const hubs = [{ name: 'hub', partitions: 2, retentionHours: 0.3 / 3600 }];
    const emu = await startTestEmulator({ hubs, segmentBytes: 4096, retentionCheckMs: 100 });
    try {
      await sendNumbered(emu.connectionString(), 'hub', 0, 40, 1000);
      const producer = new EventHubProducerClient(emu.connectionString(), 'hub');
      await expect
        .poll(async () => (await producer.getPartitionProperties('0')).beginningSequenceNumber, {
          timeout: 10_000,
        })
        .toBeGreaterThan(0);
      const props = await producer.getPartitionProperties('0');
      await producer.close();
      // Retention keeps running (0.3 s here), so the beginning may move on while we read.
      const [first] = await readPartition(
        emu.connectionString(),
        'hub',
        '0',
        earliestEventPosition,
        1,
      );
      expect(first!.sequenceNumber).toBeGreaterThanOrEqual(props.beginningSequenceNumber);
      expect(first!.sequenceNumber).toBeLessThanOrEqual(props.lastEnqueuedSequenceNumber);
    } finally {
      await emu.stop();
    }
  });
});
