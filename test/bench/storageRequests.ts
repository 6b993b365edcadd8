import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/**
 * Counts the HTTP requests this process (the stack runs in it: ingest, hydrate, the host) makes
 * to the storage emulator's blob endpoint, by container, through Node's http diagnostics
 * channel. The agent's own requests (a child process) are its claim-check uploads: one each.
 */
export class StorageRequests {
  private counts = new Map<string, number>();
  /** By `container method comp` (e.g. `replicas PUT page`), for a closer look at one container. */
  private ops = new Map<string, number>();
  constructor(blobUrl: string) {
    const u = new URL(blobUrl);
    subscribe('http.client.request.start', (m) => {
      const req = (m as { request: ClientRequest }).request;
      if (String(req.getHeader('host')) !== u.host) return;
      const [path, query = ''] = req.path.split('?');
      const container = path!.split('/')[2] ?? '';
      this.counts.set(container, (this.counts.get(container) ?? 0) + 1);
      const comp = new URLSearchParams(query).get('comp') ?? '';
      const op = `${container} ${req.method} ${comp}`.trim();
      this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
    });
  }
  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }
  opsSnapshot(): Map<string, number> {
    return new Map(this.ops);
  }
  /** Requests since `from`, by container. */
  since(from: Map<string, number>): Map<string, number> {
    return diff(this.counts, from);
  }
  /** Requests since `from`, by container, method and `comp`. */
  opsSince(from: Map<string, number>): Map<string, number> {
    return diff(this.ops, from);
  }
}

function diff(now: Map<string, number>, from: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of now) if (v - (from.get(k) ?? 0) > 0) out.set(k, v - (from.get(k) ?? 0));
  return out;
}
