import { isTokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient, RestError, type HttpClient } from '@azure/core-rest-pipeline';
import {
  BlobSASPermissions,
  BlobServiceClient,
  type BlobClient,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  newPipeline,
  type BlobSASSignatureValues,
  type StoragePipelineOptions,
  type UserDelegationKey,
} from '@azure/storage-blob';
import { HavenError, transient } from '../../core/errors';
import { boundDownloadIdle } from './downloadIdleBound';
import type { PageWriteRetries } from './pageWriter';
import { pemText, tokenCredentialOf, type CredentialSettings } from '../identity/tokenCredential';

/**
 * How the app reaches its storage account: a connection string with the account key (the
 * local stack's Azurite), or the account's blob URL and a token credential (Azure: the app's
 * managed identity, so the account can refuse shared keys). With a token credential every SAS
 * the app hands out is a user-delegation SAS.
 */
export type StorageAccess =
  | { connection: string }
  | (CredentialSettings & {
      accountUrl: string;
      /** PEM text or a path: the only CA trusted for the endpoint (a local HTTPS Azurite's). */
      caCert?: string;
    });

/**
 * Few, short retries: a trigger that fails is retried by the host anyway, and a hanging call
 * holds the replica lease. Each try is given up once unanswered past its server-side timeout
 * (`answerBoundMs`: 67 s here), so a call on a dead connection ends within ~3.5 minutes; a
 * download's body, once it has sent nothing for as long, is asked for again as many times.
 */
export const STORAGE_RETRIES = {
  maxTries: 3,
  retryDelayInMs: 200,
  maxRetryDelayInMs: 2000,
  tryTimeoutInMs: 60_000,
} as const;

/**
 * How long after a try's server-side timeout (`tryTimeoutInMs`, which this SDK only sends as
 * the `timeout` parameter the service enforces on itself) a try that has had no answer is
 * given up: its connection is dead (black-holed, half-open), and a call on it would otherwise
 * wait for the host's function timeout while holding a replica lease or a partition. Given up
 * as a network timeout, so the retry policy tries again on another connection.
 */
export function answerBoundMs(tryTimeoutInMs: number): number {
  return Math.ceil(tryTimeoutInMs * 1.1) + 1000;
}

/**
 * The pipeline's options, and how long a download's body may send nothing before it is given
 * up (`bodyIdleMs`). By default the try's answer bound: the service bounds its own work by the
 * server-side timeout, so one that has begun a body and then sends nothing for longer than
 * that is as dead as one that never answered; and a stalled body then costs what an
 * unanswered try costs.
 */
export type BoundedStorageOptions = StoragePipelineOptions & { bodyIdleMs?: number };

/**
 * How a blob store's storage calls are retried and bounded: `retries` (default
 * `STORAGE_RETRIES`) and `bodyIdleMs` (default the try's answer bound). Tests shorten them.
 */
export interface StorageBounds {
  retries?: PageWriteRetries;
  bodyIdleMs?: number;
}

/** The blob service client of the access; `options` tunes retries (and bounds each try). */
export function blobServiceOf(
  access: StorageAccess | string,
  { bodyIdleMs, ...options }: BoundedStorageOptions = {},
): BlobServiceClient {
  const tryMs = options.retryOptions?.tryTimeoutInMs;
  const answerMs = tryMs ? answerBoundMs(tryMs) : undefined;
  const idleMs = bodyIdleMs ?? answerMs;
  let credential;
  let url;
  let ca: string | undefined;
  if (typeof access === 'string' || 'connection' in access) {
    const cs = typeof access === 'string' ? access : access.connection;
    const svc = BlobServiceClient.fromConnectionString(cs, options);
    if (!answerMs && !idleMs) return svc;
    // Its endpoint and credential, on a pipeline whose client bounds each try.
    ({ credential, url } = svc);
  } else {
    credential = tokenCredentialOf(access, 'HAVEN_STORAGE_TOKEN');
    url = access.accountUrl.replace(/\/+$/, '');
    ca = pemText(access.caCert);
  }
  const pipeline = newPipeline(credential, options);
  // The storage pipeline options have no TLS settings or timeouts; the client the pipeline
  // sends with does (a local endpoint's CA only: the system store is never widened).
  if (ca || answerMs || idleMs)
    (pipeline as unknown as { _coreHttpClient: HttpClient })._coreHttpClient = boundedClient(
      sharedClient(),
      { ca, answerMs, idleMs },
    );
  return new BlobServiceClient(url, pipeline);
}

/** One HTTP client (one keep-alive pool) under every bounded client, as the SDK shares its own. */
let shared: HttpClient | undefined;
const sharedClient = () => (shared ??= createDefaultHttpClient());

/** `ca`: the only CA trusted; `answerMs`: each try's answer bound; `idleMs`: a body's. */
interface Bounds {
  ca?: string;
  answerMs?: number;
  idleMs?: number;
}

function boundedClient(inner: HttpClient, { ca, answerMs, idleMs }: Bounds): HttpClient {
  // One object for every request: the HTTP client keeps a keep-alive pool per TLS settings
  // object, so a new one per request would cost a TLS handshake per request.
  const tls = ca ? { ca } : undefined;
  return {
    async sendRequest(request) {
      if (tls) request.tlsSettings = request.tlsSettings ? { ...request.tlsSettings, ca } : tls;
      // The request timeout covers sending the request and its answer's headers only: a
      // download's body is bounded apart, by how long it sends nothing (never by how long it
      // takes as a whole, so a slow but steady body is not cut).
      if (answerMs && (!request.timeout || request.timeout > answerMs)) request.timeout = answerMs;
      try {
        const response = await inner.sendRequest(request);
        if (idleMs) boundDownloadIdle(response, idleMs);
        return response;
      } catch (e) {
        const unanswered = (e as Error)?.name === 'AbortError' && !request.abortSignal?.aborted;
        if (!answerMs || !unanswered) throw e;
        throw new RestError(`storage did not answer within ${answerMs} ms`, {
          code: 'ETIMEDOUT',
          request,
        });
      }
    },
  };
}

/**
 * The user-delegation SAS format signed: the newest the local stand-in (Azurite 3.35) checks;
 * Azure takes it too, and nothing of later formats (signed request headers) is used.
 */
const UDK_SAS_VERSION = '2025-07-05';
/** A user-delegation key is valid for at most 7 days (Azure's limit). */
const MAX_KEY_LIFETIME_MS = 7 * 24 * 3600_000;
/** Keys are asked for a day at a time: one key request a day, not one per SAS. */
const KEY_LIFETIME_MS = 24 * 3600_000;
/** A key starts a little before it is asked for: SAS start times allow for clock skew. */
const KEY_BACKDATE_MS = 10 * 60_000;

/**
 * Signs blob and container SAS for one account: with the account key when the client has
 * one, else with a user-delegation key of the client's identity (asked once, reused while it
 * covers the SAS asked for, renewed before it stops doing so).
 */
export class BlobSasSigner {
  private key?: Promise<UserDelegationKey>;

  constructor(
    private readonly svc: BlobServiceClient,
    private readonly clock: () => number = Date.now,
  ) {}

  async sign(values: BlobSASSignatureValues): Promise<string> {
    const cred = this.svc.credential;
    if (cred instanceof StorageSharedKeyCredential)
      return generateBlobSASQueryParameters(values, cred).toString();
    if (!isTokenCredential(cred))
      throw transient('The storage connection has no account key or identity to sign a SAS with.');
    if (!values.expiresOn) throw new HavenError('internal', 'a SAS needs an expiry');
    const key = await this.keyCovering(values.expiresOn);
    return generateBlobSASQueryParameters(
      { version: UDK_SAS_VERSION, ...values },
      key,
      this.svc.accountName,
    ).toString();
  }

  /**
   * A read-only URL of one blob (or one of its snapshots) for `ttlSec`: `blob` is the client of
   * `container`/`name`, which the SAS is signed for as given.
   */
  async readUrl(
    blob: BlobClient,
    container: string,
    name: string,
    ttlSec: number,
    snapshot?: string,
  ): Promise<string> {
    const now = this.clock();
    // Read only, this blob (or snapshot) only: signed with the account key or, by identity,
    // with a user-delegation key.
    const sas = await this.sign({
      containerName: container,
      blobName: name,
      snapshotTime: snapshot,
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now - 5 * 60_000), // clock skew
      expiresOn: new Date(now + ttlSec * 1000),
    });
    const base = snapshot ? blob.withSnapshot(snapshot).url : blob.url;
    return `${base}${base.includes('?') ? '&' : '?'}${sas}`;
  }

  private async keyCovering(expiresOn: Date): Promise<UserDelegationKey> {
    const now = this.clock();
    if (expiresOn.getTime() > now + MAX_KEY_LIFETIME_MS - KEY_BACKDATE_MS)
      throw new HavenError('internal', 'a user-delegation SAS lasts at most 7 days');
    const cached = this.key && (await this.key.catch(() => undefined));
    if (cached && cached.signedExpiresOn.getTime() >= expiresOn.getTime()) return cached;
    const until = Math.max(now + KEY_LIFETIME_MS, expiresOn.getTime());
    const asked = this.svc
      .getUserDelegationKey(new Date(now - KEY_BACKDATE_MS), new Date(until))
      .catch((e: unknown) => {
        if (this.key === asked) this.key = undefined;
        throw transient('Blob storage gave no user-delegation key.', e);
      });
    this.key = asked;
    return asked;
  }
}
