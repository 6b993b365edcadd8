import { transient } from '../../core/errors';
import type { BlobEvents } from '../../core/replication/blobPorts';

/** Azure: Event Grid raises the blob-created event itself; nothing to do. */
export class EventGridBlobEvents implements BlobEvents {
  async written(_container: string, _name: string): Promise<void> {}
}

/**
 * Local stack: Azurite raises no blob events, so the writer nudges the local Functions host
 * (`POST /admin/host/blob-written`), which runs the matching blob trigger right away instead
 * of waiting for its next scan. A failed nudge is not fatal for correctness (the host's scan
 * still finds the blob) but it is reported so a misconfiguration is visible.
 */
export class HostNudgeBlobEvents implements BlobEvents {
  constructor(
    private readonly url: string,
    private readonly key?: string,
    // The host's periodic scan still finds the blob; say why hydrate may lag (never the key).
    private readonly onError: (e: unknown) => void = (e) =>
      console.warn(`blob-written nudge failed: ${(e as Error)?.message ?? String(e)}`),
  ) {}

  async written(container: string, name: string): Promise<void> {
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.key ? { 'x-functions-key': this.key } : {}),
        },
        body: JSON.stringify({ container, name, path: `${container}/${name}` }),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok && res.status >= 500) throw transient(`host nudge answered ${res.status}`);
      await res.body?.cancel();
    } catch (e) {
      this.onError(e);
    }
  }
}

/** Records written blobs (tests and in-process hosts). */
export class RecordingBlobEvents implements BlobEvents {
  readonly events: { container: string; name: string }[] = [];
  listener?: (container: string, name: string) => void | Promise<void>;
  async written(container: string, name: string): Promise<void> {
    this.events.push({ container, name });
    await this.listener?.(container, name);
  }
}
