import { existsSync, readFileSync } from 'node:fs';

/** The parts of host.json the local host honours. */
export interface HostJson {
  extensions?: {
    http?: { routePrefix?: string; maxRequestBodySize?: number };
    queues?: {
      maxDequeueCount?: number;
      visibilityTimeout?: string;
      batchSize?: number;
      maxPollingInterval?: string | number;
      messageEncoding?: 'base64' | 'none';
    };
    blobs?: { maxDegreeOfParallelism?: number; pollingInterval?: string | number };
    [name: string]: unknown;
  };
  retry?: Record<string, unknown>;
  functionTimeout?: string;
  [key: string]: unknown;
}

export function readHostJson(path: string | undefined): HostJson {
  if (!path || !existsSync(path)) return {};
  return JSON.parse(readFileSync(path, 'utf8')) as HostJson;
}

/** `extensions.http.routePrefix`, default `api`; an empty prefix serves functions at the root. */
export function routePrefix(hostJson: HostJson): string {
  const p = hostJson.extensions?.http?.routePrefix;
  return (p ?? 'api').replace(/^\/+|\/+$/g, '');
}
