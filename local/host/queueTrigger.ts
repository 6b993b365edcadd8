import {
  QueueServiceClient,
  type DequeuedMessageItem,
  type QueueClient,
} from '@azure/storage-queue';
import { resolveSettingRefs, storageConnectionString } from './appSettings';
import type { HostJson } from './hostJson';
import type { HostContext, HostFunction, TriggerDriver } from './plugin';
import { durationMs } from './timeSpan';

export interface QueueDriverOptions {
  hostJson: HostJson;
  /** Longest wait between polls of an empty queue (default host.json maxPollingInterval or 2 s). */
  maxPollIntervalMs?: number;
}

/** While a message is being processed it stays invisible this long (the host renews in Azure). */
const LOCK_SECONDS = 600;

function decode(text: string, encoding: string): string {
  if (encoding === 'none') return text;
  const bytes = Buffer.from(text, 'base64');
  // Not base64 (a client that forgot to encode): hand over the raw text rather than garbage.
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '')
    ? bytes.toString('utf8')
    : text;
}

/**
 * Storage queue trigger over Azurite, with the semantics of the Functions queue extension:
 * base64 messages, `dequeueCount` in trigger metadata, a failed message becomes visible again
 * after `visibilityTimeout`, and goes to `<queue>-poison` once it failed `maxDequeueCount` times.
 */
class QueueLoop {
  #stopped = false;
  #wake?: () => void;
  #done?: Promise<void>;

  constructor(
    readonly fn: HostFunction,
    readonly queue: QueueClient,
    readonly poison: QueueClient,
    readonly host: HostContext,
    readonly cfg: {
      batchSize: number;
      maxDequeue: number;
      visibilitySec: number;
      maxPollMs: number;
      encoding: string;
    },
  ) {}

  async start(): Promise<void> {
    await this.queue.createIfNotExists();
    this.#done = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#done;
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.#wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  async #loop(): Promise<void> {
    let idle = 50;
    while (!this.#stopped) {
      let messages: DequeuedMessageItem[] = [];
      try {
        const res = await this.queue.receiveMessages({
          numberOfMessages: this.cfg.batchSize,
          visibilityTimeout: LOCK_SECONDS,
        });
        messages = res.receivedMessageItems;
      } catch (e) {
        this.host.log.warn(`Queue '${this.queue.name}' poll failed: ${(e as Error).message}`);
      }
      if (!messages.length) {
        await this.#sleep(idle);
        idle = Math.min(idle * 2, this.cfg.maxPollMs);
        continue;
      }
      idle = 50;
      await Promise.all(messages.map((m) => this.#process(m)));
    }
  }

  async #process(m: DequeuedMessageItem): Promise<void> {
    const text = decode(m.messageText, this.cfg.encoding);
    try {
      await this.host.invoke(this.fn.name, {
        triggerValue: text,
        triggerMetadata: {
          QueueTrigger: text,
          DequeueCount: m.dequeueCount,
          Id: m.messageId,
          PopReceipt: m.popReceipt,
          ExpirationTime: m.expiresOn.toISOString(),
          InsertionTime: m.insertedOn.toISOString(),
          NextVisibleTime: m.nextVisibleOn.toISOString(),
        },
      });
      await this.queue.deleteMessage(m.messageId, m.popReceipt);
      return;
    } catch {
      // Logged by the host; decide between another attempt and the poison queue below.
    }
    try {
      if (m.dequeueCount >= this.cfg.maxDequeue) {
        await this.poison.createIfNotExists();
        await this.poison.sendMessage(m.messageText);
        await this.queue.deleteMessage(m.messageId, m.popReceipt);
        this.host.log.warn(
          `Message ${m.messageId} of '${this.queue.name}' failed ${m.dequeueCount} times; moved to '${this.poison.name}'`,
        );
      } else {
        await this.queue.updateMessage(
          m.messageId,
          m.popReceipt,
          undefined,
          this.cfg.visibilitySec,
        );
      }
    } catch (e) {
      this.host.log.warn(
        `Queue '${this.queue.name}' message ${m.messageId}: ${(e as Error).message}`,
      );
    }
  }
}

export function queueDriver(opts: QueueDriverOptions): TriggerDriver {
  const loops: QueueLoop[] = [];
  const q = opts.hostJson.extensions?.queues ?? {};
  return {
    triggerTypes: ['queueTrigger'],
    async start(functions: HostFunction[], host: HostContext) {
      for (const fn of functions) {
        const conn = storageConnectionString(fn.trigger.connection, host.settings);
        const svc = QueueServiceClient.fromConnectionString(conn);
        const name = resolveSettingRefs(String(fn.trigger.queueName), host.settings).toLowerCase();
        const loop = new QueueLoop(
          fn,
          svc.getQueueClient(name),
          svc.getQueueClient(`${name}-poison`),
          host,
          {
            batchSize: Math.min(Math.max(q.batchSize ?? 16, 1), 32),
            maxDequeue: q.maxDequeueCount ?? 5,
            visibilitySec: Math.round(durationMs(q.visibilityTimeout, 0) / 1000),
            maxPollMs:
              opts.maxPollIntervalMs ?? Math.min(durationMs(q.maxPollingInterval, 2000), 2000),
            encoding: q.messageEncoding ?? 'base64',
          },
        );
        await loop.start();
        loops.push(loop);
      }
    },
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
