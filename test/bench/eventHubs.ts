import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  latestEventPosition,
} from '@azure/event-hubs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BenchRow } from './row';

/**
 * Send→receive throughput of the local Event Hubs endpoint through the real SDK, one partition:
 * producer batches (≤ 1 MiB each, several in flight) and a subscriber on the same partition;
 * the clock stops when the subscriber has every event. Each event is fdatasync'd before its
 * send is acknowledged. Baseline: appending the same bytes to a file with one fdatasync per
 * batch (what a single durable writer does without any network or protocol).
 */
const MB = 1e6;

interface Measured {
  mbPerSecond: number;
  /** CPU milliseconds per MB moved, in the endpoint process and in the SDK client process. */
  endpointCpuMsPerMB: number;
  clientCpuMsPerMB: number;
}

async function measure(eventBytes: number, totalBytes: number, dir: string): Promise<Measured> {
  const emulator = await startEmulatorProcess(join(dir, `eh-${eventBytes}`));
  const cs = `Endpoint=sb://127.0.0.1:${emulator.port};SharedAccessKeyName=bench;SharedAccessKey=bench-key;UseDevelopmentEmulator=true`;
  const producer = new EventHubProducerClient(cs, 'bench');
  const consumer = new EventHubConsumerClient('$Default', cs, 'bench');
  const perBatch = Math.max(1, Math.floor((1000 * 1024) / (eventBytes + 200)));
  const batches = Math.ceil(totalBytes / (eventBytes * perBatch));
  const expected = batches * perBatch;
  const payload = Buffer.alloc(eventBytes, 0x5a);
  try {
    let received = 0;
    let ready!: () => void;
    const attached = new Promise<void>((r) => (ready = r));
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const sub = consumer.subscribe(
      '0',
      {
        processEvents: async (events) => {
          if (events.length === 0) ready();
          received += events.length;
          if (received >= expected) done();
        },
        processError: async (e) => {
          console.error(`bench consumer: ${(e as Error).message}`);
        },
      },
      {
        startPosition: latestEventPosition,
        maxBatchSize: Math.max(2 * perBatch, 16),
        prefetchCount: Math.max(6 * perBatch, 48),
        maxWaitTimeInSeconds: 0.05,
        skipParsingBodyAsJson: true,
      },
    );
    await attached; // an empty batch arrives once the receive link is open
    // Warm the producer link.
    await producer.sendBatch([{ body: Buffer.alloc(16) }], { partitionId: '0' });
    received -= 1;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const ecpu0 = procCpu(emulator.pid);
    const inFlight = 8;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches) {
        next++;
        await producer.sendBatch(
          Array.from({ length: perBatch }, () => ({ body: payload })),
          { partitionId: '0' },
        );
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    await finished;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const client = process.cpuUsage(cpu0);
    const endpointCpu = procCpu(emulator.pid) - ecpu0;
    await sub.close();
    const mb = (expected * eventBytes) / MB;
    return {
      mbPerSecond: mb / seconds,
      endpointCpuMsPerMB: (endpointCpu * 1000) / mb,
      clientCpuMsPerMB: (client.user + client.system) / 1000 / mb,
    };
  } finally {
    await consumer.close();
    await producer.close();
    await emulator.stop();
  }
}

/** CPU seconds a process has used (Linux /proc). */
function procCpu(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(st[11]) + Number(st[12])) / 100;
}

/** The endpoint runs in its own process, as it does beside a real client. */
async function startEmulatorProcess(
  dataDir: string,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const built = __filename.endsWith('.js');
  const main = join(__dirname, '../../local/eventhubs', built ? 'main.js' : 'main.ts');
  const args = [
    ...(built ? [] : ['--import', 'tsx']),
    main,
    '--data-dir',
    dataDir,
    '--hub',
    'bench:1',
    '--key',
    'bench:bench-key',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (l) =>
      resolve((JSON.parse(l) as { port: number }).port),
    );
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function baseline(eventBytes: number, totalBytes: number, dir: string): number {
  const perBatch = Math.max(1, Math.floor((1000 * 1024) / (eventBytes + 200)));
  const batches = Math.ceil(totalBytes / (eventBytes * perBatch));
  const payload = Buffer.alloc(eventBytes, 0x5a);
  const fd = openSync(join(dir, `baseline-${eventBytes}`), 'w');
  const t0 = process.hrtime.bigint();
  try {
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < perBatch; i++) writeSync(fd, payload);
      fdatasyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return (batches * perBatch * eventBytes) / MB / seconds;
}

/** Loopback TCP: the same bytes through one socket into a reader that drops them. */
async function tcpBaseline(eventBytes: number, totalBytes: number): Promise<number> {
  const payload = Buffer.alloc(eventBytes, 0x5a);
  const count = Math.ceil(totalBytes / eventBytes);
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = createServer((sock) =>
    sock.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= count * eventBytes) done();
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', r));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (!sock.write(payload)) await new Promise<void>((r) => sock.once('drain', r));
  }
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return (count * eventBytes) / MB / seconds;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-eh-'));
  const total = (opts.quick ? 64 : 256) * 1024 * 1024;
  const rows: BenchRow[] = [];
  try {
    for (const size of [64 * 1024, 900 * 1024]) {
      const base = baseline(size, total, dir);
      const m = await measure(size, total, dir);
      const value = m.mbPerSecond;
      rows.push({
        name: `Event Hubs send→receive, ${size / 1024} KiB events, 1 partition`,
        value,
        unit: 'MB/s',
        baselineName: 'fs append + fdatasync per batch',
        baselineValue: base,
        ratio: value / base,
        note:
          `${Math.round(total / 1024 / 1024)} MiB through the SDK, fdatasync before ack; higher is better; ` +
          `CPU ms/MB: endpoint ${m.endpointCpuMsPerMB.toFixed(1)}, SDK client ${m.clientCpuMsPerMB.toFixed(1)}` +
          (size === 900 * 1024 ? '; target ≥ 150 MB/s' : ''),
      });
    }
    // The same with the logs on tmpfs: what the protocol path costs when the disk is not the limit.
    const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/haven-bench-eh-') : undefined;
    if (shm) {
      try {
        const size = 900 * 1024;
        const base = await tcpBaseline(size, total);
        const m = await measure(size, total, shm);
        rows.push({
          name: 'Event Hubs send→receive, 900 KiB events, log on tmpfs',
          value: m.mbPerSecond,
          unit: 'MB/s',
          baselineName: 'loopback TCP copy',
          baselineValue: base,
          ratio: m.mbPerSecond / base,
          note: `protocol + SDK cost without the disk; CPU ms/MB: endpoint ${m.endpointCpuMsPerMB.toFixed(1)}, SDK client ${m.clientCpuMsPerMB.toFixed(1)}`,
        });
      } finally {
        rmSync(shm, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
