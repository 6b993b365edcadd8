import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isTokenCredential } from '@azure/core-auth';
import { RestError, StorageSharedKeyCredential, type BlobServiceClient } from '@azure/storage-blob';
import { CachedToken } from '../identity/cachedToken';
import { isNetworkError } from './storageErrors';

/**
 * The REST version page writes are sent with: one that Azure and the local stand-in (Azurite
 * 3.35) both serve, so the emulator needs no version check switched off for them.
 */
export const PAGE_WRITE_VERSION = '2025-07-05';

/** How a page write proves who sends it. */
export type PageWriteAuth =
  | {
      kind: 'shared-key';
      account: string;
      /** HMAC-SHA256 of the string to sign with the account key, base64. */
      sign(stringToSign: string): string;
    }
  | { kind: 'bearer'; token(): Promise<string> };

export interface PageWriteRetries {
  maxTries: number;
  retryDelayInMs: number;
  maxRetryDelayInMs: number;
  tryTimeoutInMs: number;
}

/** Statuses a page write is tried again on (a page write is idempotent: same bytes, same place). */
const RETRIED_STATUSES = new Set([408, 500, 502, 503, 504]);
/** The most of an error response's body kept for its message. */
const ERROR_BODY_MAX = 16 * 1024;

/**
 * Put Page (`PUT ?comp=page`, `x-ms-page-write: update`) sent straight over a keep-alive
 * connection. Hydrate sends hundreds of small page writes a second, and the storage SDK's
 * pipeline (policies, header objects, tracing spans, response deserialization) cost ~0.5 ms
 * of CPU per request on top of the HTTP request itself (measured against Azurite: 0.86–0.99
 * ms against 0.39–0.48 ms): on the host's cores that is the page writes hydrate cannot make.
 * Everything else still goes through the SDK. Signing follows the SDK's shared-key policy
 * (same canonical headers and resource) or sends the identity's bearer token; errors come
 * back as the SDK's `RestError` (status, service error code) so one mapping serves both.
 */
export class PageWriter {
  private readonly agent: http.Agent;

  constructor(
    private readonly auth: PageWriteAuth,
    private readonly retries: PageWriteRetries,
    private readonly secure: boolean,
    ca?: string,
  ) {
    // A local endpoint's CA only, for its requests only: the system store is never widened.
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 64, scheduling: 'lifo', ca })
      : new http.Agent({ keepAlive: true, maxSockets: 64, scheduling: 'lifo' });
  }

  /** Writes `body` (whole 512-byte pages) at `offset` of the page blob at `blobUrl`. */
  async put(blobUrl: URL, offset: number, body: Buffer, leaseId?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.once(blobUrl, offset, body, leaseId);
        return;
      } catch (e) {
        if (attempt >= this.retries.maxTries || !retried(e)) throw e;
        await sleep(this.backoff(attempt));
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private backoff(attempt: number): number {
    const base = Math.min(
      this.retries.retryDelayInMs * 2 ** (attempt - 1),
      this.retries.maxRetryDelayInMs,
    );
    return base * (0.8 + Math.random() * 0.4);
  }

  private async once(url: URL, offset: number, body: Buffer, leaseId?: string): Promise<void> {
    const headers: Record<string, string> = {
      'content-length': String(body.length),
      'x-ms-client-request-id': randomUUID(),
      'x-ms-date': new Date().toUTCString(),
      ...(leaseId ? { 'x-ms-lease-id': leaseId } : {}),
      'x-ms-page-write': 'update',
      'x-ms-range': `bytes=${offset}-${offset + body.length - 1}`,
      'x-ms-version': PAGE_WRITE_VERSION,
    };
    headers.authorization = await this.authorization(url, headers);
    const res = await this.send(url, headers, body);
    if (res.status === 201) return;
    throw new RestError(`page write refused: ${res.status} ${res.code}`.trim(), {
      statusCode: res.status,
      code: res.code || undefined,
    });
  }

  private async authorization(url: URL, headers: Record<string, string>): Promise<string> {
    if (this.auth.kind === 'bearer') return `Bearer ${await this.auth.token()}`;
    // The SDK's shared-key string: verb, eleven standard headers (only the length is set),
    // the x-ms-* headers in order (the keys above are already sorted), then the resource.
    const xms = Object.keys(headers)
      .filter((k) => k.startsWith('x-ms-'))
      .map((k) => `${k}:${headers[k]}\n`)
      .join('');
    const signed = `PUT\n\n\n${headers['content-length']}\n\n\n\n\n\n\n\n\n${xms}/${this.auth.account}${url.pathname}\ncomp:page`;
    return `SharedKey ${this.auth.account}:${this.auth.sign(signed)}`;
  }

  private send(
    url: URL,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<{ status: number; code: string }> {
    const mod = this.secure ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          agent: this.agent,
          host: url.hostname,
          port: url.port,
          method: 'PUT',
          path: `${url.pathname}?comp=page`,
          headers,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const header = res.headers['x-ms-error-code'];
          let text = '';
          if (status === 201) res.resume();
          else
            res.on('data', (c: Buffer) => {
              if (text.length < ERROR_BODY_MAX) text += c.toString('utf8');
            });
          res.on('error', reject);
          res.on('end', () => {
            const code = (Array.isArray(header) ? header[0] : header) ?? errorCodeIn(text);
            resolve({ status, code });
          });
        },
      );
      req.setTimeout(this.retries.tryTimeoutInMs, () =>
        req.destroy(Object.assign(new Error('page write timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The audience of storage tokens (the SDK's default scope). */
const STORAGE_SCOPE = 'https://storage.azure.com/.default';

/**
 * The page writer for a service client's account and credential. The app signs SAS for its
 * agents, so its storage access is an account key or an identity, never a SAS of its own.
 */
export function pageWriterFor(
  svc: BlobServiceClient,
  retries: PageWriteRetries,
  ca?: string,
): PageWriter {
  const url = new URL(svc.url);
  const cred = svc.credential;
  const auth: PageWriteAuth | undefined =
    cred instanceof StorageSharedKeyCredential
      ? { kind: 'shared-key', account: cred.accountName, sign: (s) => cred.computeHMACSHA256(s) }
      : isTokenCredential(cred)
        ? { kind: 'bearer', token: tokenOf(new CachedToken(cred, STORAGE_SCOPE)) }
        : undefined;
  if (!auth || url.search)
    throw new Error('The storage connection needs an account key or an identity, not a SAS.');
  return new PageWriter(auth, retries, url.protocol === 'https:', ca);
}

const tokenOf = (cached: CachedToken) => () => cached.get();

const errorCodeIn = (xml: string): string => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? '';

function retried(e: unknown): boolean {
  if (e instanceof RestError) return RETRIED_STATUSES.has(e.statusCode ?? 0);
  return isNetworkError(e);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
