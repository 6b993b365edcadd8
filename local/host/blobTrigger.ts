import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveSettingRefs, storageConnectionString } from './appSettings';
import { parseBlobPath, type BlobPath } from './blobPath';
import { BlobReceipts } from './blobReceipts';
import type { HostJson } from './hostJson';
import type { HostContext, HostFunction, TriggerDriver } from './plugin';
import { sendProblem } from './problem';
import { readBody } from './readBody';
import { durationMs } from './timeSpan';

export const NUDGE_PATH = '/admin/host/blob-written';
const POISON_QUEUE = 'webjobs-blobtrigger-poison';

export interface BlobDriverOptions {
  hostJson: HostJson;
  /** Container scan period (default host.json extensions.blobs.pollingInterval or 5 s). */
  pollIntervalMs?: number;
}

interface Item {
  key: string;
  name: string;
  etag: string;
}

/**
 * One blob-triggered function. Azurite raises no events, so containers are scanned on a
 * period and on a nudge; each blob version (ETag) is delivered once, recorded by a receipt.
 * `source: 'EventGrid'` registrations are served the same way.
 */
class BlobWatcher {
  readonly #queue: Item[] = [];
  readonly #queued = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();
  #scanning?: Promise<void>;
  #stopped = false;

  constructor(
    readonly fn: HostFunction,
    readonly path: BlobPath,
    readonly container: ContainerClient,
    readonly receipts: BlobReceipts,
    readonly host: HostContext,
    readonly cfg: { parallel: number; maxFailures: number; pollMs: number; connection: string },
  ) {}

  async start(): Promise<void> {
    await this.receipts.load();
    const tick = () => {
      if (this.#stopped) return;
      void this.scan().finally(() => this.#later(tick, this.cfg.pollMs));
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timers.forEach(clearTimeout);
    await this.#scanning;
    await Promise.allSettled([...this.#running]);
  }

  #later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  scan(): Promise<void> {
    this.#scanning ??= (async () => {
      try {
        for await (const b of this.container.listBlobsFlat({ prefix: this.path.prefix })) {
          if (this.#stopped) break;
          if (this.path.match(b.name)) this.#enqueue(b.name, b.properties.etag ?? '');
        }
      } catch (e) {
        const code = (e as { statusCode?: number }).statusCode;
        if (code !== 404)
          this.host.log.warn(
            `Blob scan of '${this.path.container}' failed: ${(e as Error).message}`,
          );
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  /** A writer told us about one blob: look at it now rather than at the next scan. */
  async nudge(container: string, name: string): Promise<boolean> {
    if (container.toLowerCase() !== this.path.container || !this.path.match(name)) return false;
    try {
      const props = await this.container.getBlobClient(name).getProperties();
      this.#enqueue(name, props.etag ?? '');
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
    return true;
  }

  #enqueue(name: string, etag: string): void {
    const key = BlobReceipts.key(this.path.container, name, etag);
    if (this.#stopped || this.receipts.has(key) || this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push({ key, name, etag });
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running.size < this.cfg.parallel && this.#queue.length) {
      const item = this.#queue.shift()!;
      const run = this.#process(item).finally(() => {
        this.#running.delete(run);
        this.#queued.delete(item.key);
        this.#pump();
      });
      this.#running.add(run);
    }
  }

  async #process(item: Item): Promise<void> {
    const blob = this.container.getBlobClient(item.name);
    let content: Buffer;
    let props: Awaited<ReturnType<typeof blob.download>>;
    try {
      // One GET of that exact version: content and properties together (downloadToBuffer
      // would add a properties call and ranged reads per invocation).
      props = await blob.download(0, undefined, { conditions: { ifMatch: item.etag } });
      const chunks: Buffer[] = [];
      for await (const c of props.readableStreamBody as AsyncIterable<Buffer>) chunks.push(c);
      content = Buffer.concat(chunks);
    } catch (e) {
      const code = (e as { statusCode?: number }).statusCode;
      // Deleted or overwritten since listed: the newer version (if any) is found by its own ETag.
      if (code === 404 || code === 412) return;
      this.host.log.warn(
        `Blob ${this.path.container}/${item.name} could not be read: ${(e as Error).message}`,
      );
      this.#retryLater(item);
      return;
    }
    try {
      await this.host.invoke(this.fn.name, {
        triggerValue: content,
        triggerMetadata: {
          BlobTrigger: `${this.path.container}/${item.name}`,
          Uri: blob.url,
          Properties: {
            ContentType: props.contentType,
            ContentLength: props.contentLength,
            Length: props.contentLength,
            ETag: props.etag,
            LastModified: props.lastModified?.toISOString(),
            CreatedOn: props.createdOn?.toISOString(),
            BlobType: props.blobType,
          },
          Metadata: props.metadata ?? {},
          ...this.path.match(item.name),
        },
      });
      await this.receipts.write(item.key, 'complete');
      this.#failures.delete(item.key);
    } catch {
      const n = (this.#failures.get(item.key) ?? 0) + 1;
      this.#failures.set(item.key, n);
      if (n < this.cfg.maxFailures) {
        this.#retryLater(item, n);
        return;
      }
      this.host.log.error(
        `Blob ${this.path.container}/${item.name} failed ${n} times in '${this.fn.name}'; moved to ${POISON_QUEUE}`,
      );
      await this.receipts.write(item.key, 'poisoned').catch(() => undefined);
      await this.poisonMessage(item).catch(() => undefined);
    }
  }

  #retryLater(item: Item, n = 1): void {
    this.#later(() => this.#enqueue(item.name, item.etag), Math.min(1000 * n, this.cfg.pollMs));
  }

  async poisonMessage(item: Item): Promise<void> {
    const queue = QueueServiceClient.fromConnectionString(this.cfg.connection).getQueueClient(
      POISON_QUEUE,
    );
    await queue.createIfNotExists();
    const body = {
      Type: 'BlobTrigger',
      FunctionId: this.fn.name,
      BlobType: 'BlockBlob',
      ContainerName: this.path.container,
      BlobName: item.name,
      ETag: item.etag,
    };
    await queue.sendMessage(Buffer.from(JSON.stringify(body)).toString('base64'));
  }
}

export function blobDriver(opts: BlobDriverOptions): TriggerDriver {
  const watchers: BlobWatcher[] = [];
  const b = opts.hostJson.extensions?.blobs ?? {};

  async function onNudge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendProblem(res, 405, 'Use POST.', { allow: 'POST' });
    let items: { container?: unknown; name?: unknown }[];
    try {
      const parsed = JSON.parse((await readBody(req, 1024 * 1024)).toString('utf8')) as unknown;
      items = Array.isArray(parsed) ? parsed : [parsed as object];
    } catch {
      return sendProblem(res, 400, 'Body must be JSON { "container": "...", "name": "..." }.');
    }
    if (items.some((i) => typeof i?.container !== 'string' || typeof i?.name !== 'string')) {
      return sendProblem(res, 400, 'Body must be JSON { "container": "...", "name": "..." }.');
    }
    let matched = 0;
    for (const i of items) {
      for (const w of watchers)
        if (await w.nudge(i.container as string, i.name as string)) matched++;
    }
    const text = JSON.stringify({ matched });
    res.writeHead(202, { 'content-type': 'application/json' }).end(text);
  }

  return {
    triggerTypes: ['blobTrigger'],
    async start(functions: HostFunction[], host: HostContext) {
      host.addHttpRoute(NUDGE_PATH, onNudge);
      const hostId = host.settings.AzureFunctionsWebHost__hostid || 'haven-local';
      for (const fn of functions) {
        const connection = storageConnectionString(fn.trigger.connection, host.settings);
        const svc = BlobServiceClient.fromConnectionString(connection);
        const path = parseBlobPath(resolveSettingRefs(String(fn.trigger.path), host.settings));
        const receipts = new BlobReceipts(
          svc.getContainerClient('azure-webjobs-hosts'),
          hostId,
          fn.name,
        );
        const w: BlobWatcher = new BlobWatcher(
          fn,
          path,
          svc.getContainerClient(path.container),
          receipts,
          host,
          {
            parallel: Math.max(1, b.maxDegreeOfParallelism ?? 4),
            maxFailures: opts.hostJson.extensions?.queues?.maxDequeueCount ?? 5,
            pollMs: opts.pollIntervalMs ?? durationMs(b.pollingInterval, 5000),
            connection,
          },
        );
        await w.start();
        watchers.push(w);
      }
    },
    async stop() {
      await Promise.all(watchers.map((w) => w.stop()));
    },
  };
}
