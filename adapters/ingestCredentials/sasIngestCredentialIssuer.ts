import { createHmac } from 'node:crypto';
import { ContainerSASPermissions, SASProtocol, type BlobServiceClient } from '@azure/storage-blob';
import { incomingContainerOf } from '../../core/batch';
import { transient } from '../../core/errors';
import type { IngestCredentialIssuer, IngestCredentials } from '../../core/controlPlane/ingest';
import { BlobSasSigner, blobServiceOf, type StorageAccess } from '../blobs/storageAccess';
import { eventHubsFacts } from './connectionStrings';

export interface SasIssuerOptions {
  /** A connection string (account key) or an account URL and a token credential. */
  storage: StorageAccess | string;
  /** `signingConnection` (a Send-only rule) signs the tokens when set, else `connection`. */
  eventHubs?: { connection: string; hub: string; signingConnection?: string };
  clock?: () => number;
  ttlSeconds?: number;
}

/**
 * Event Hubs SAS as the service defines it: HMAC-SHA256 over `<url-encoded uri>\n<expiry>`
 * (the same string the Event Hubs SDKs sign), keyed by the namespace/hub policy key.
 */
export function eventHubsSasToken(
  uri: string,
  keyName: string,
  key: string,
  expiry: number,
): string {
  const sr = encodeURIComponent(uri);
  const sig = createHmac('sha256', key).update(`${sr}\n${expiry}`, 'utf8').digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}&skn=${encodeURIComponent(keyName)}`;
}

/**
 * Issues per-machine ingest credentials: an Event Hubs publisher token for
 * `<hub>/publishers/<machineId>` and a SAS for claim-check uploads.
 *
 * Blob SAS scope: a flat-namespace account cannot scope a SAS to a name prefix (directory
 * SAS needs hierarchical namespace), so each machine has a container of its own
 * (`in-<machineId>`) and gets a container SAS on it with create+write only, for 15 minutes: it
 * can create blobs there and nowhere else, and read none. The ingest function also accepts a
 * claim check only under the publisher's own container and name prefix, and only bytes that
 * authenticate under that machine's data key. With the account key the SAS is a service SAS;
 * by identity it is a user-delegation SAS with the same scope, rights and expiry.
 */
export class SasIngestCredentialIssuer implements IngestCredentialIssuer {
  private readonly clock: () => number;
  private readonly ttl: number;
  /** Containers known to exist (created once per machine per process). */
  private readonly containers = new Map<string, Promise<unknown>>();
  private readonly svc: BlobServiceClient;
  private readonly signer: BlobSasSigner;

  constructor(private readonly opts: SasIssuerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.ttl = opts.ttlSeconds ?? 15 * 60;
    this.svc = blobServiceOf(opts.storage);
    this.signer = new BlobSasSigner(this.svc, this.clock);
  }

  async issue(machineId: string): Promise<IngestCredentials> {
    const eh =
      this.opts.eventHubs &&
      eventHubsFacts(this.opts.eventHubs.signingConnection ?? this.opts.eventHubs.connection);
    if (!this.opts.eventHubs || !eh) {
      throw transient('Event Hubs is not configured (HAVEN_EVENTHUBS_CONNECTION with a SAS key).');
    }
    const blobEndpoint = this.svc.url.replace(/\/+$/, '');

    const now = this.clock();
    const expirySeconds = Math.floor(now / 1000) + this.ttl;
    const expiresAt = new Date(expirySeconds * 1000);
    const hub = this.opts.eventHubs.hub;
    const resourceUri = `sb://${eh.host}/${hub}/publishers/${machineId}`;

    const container = incomingContainerOf(machineId);
    await this.ensureContainer(container);
    const permissions = ContainerSASPermissions.parse('cw').toString();
    const sas = await this.signer.sign({
      containerName: container,
      permissions: ContainerSASPermissions.parse(permissions),
      // A little slack for clock skew between agent and storage.
      startsOn: new Date(now - 5 * 60 * 1000),
      expiresOn: expiresAt,
      protocol: blobEndpoint.startsWith('https') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
    });

    return {
      eventHubs: {
        endpoint: eh.endpoint,
        hub,
        publisher: machineId,
        resourceUri,
        sasToken: eventHubsSasToken(resourceUri, eh.keyName, eh.key, expirySeconds),
        expiresAt: expiresAt.toISOString(),
        ...(eh.useDevelopmentEmulator ? { useDevelopmentEmulator: true } : {}),
      },
      blob: {
        containerUrl: `${blobEndpoint}/${container}`,
        container,
        prefix: `${machineId}/`,
        sas,
        permissions,
        expiresAt: expiresAt.toISOString(),
      },
    };
  }

  /** The agent cannot create the container with its SAS; make sure it exists (once per process). */
  private ensureContainer(container: string): Promise<unknown> {
    let ready = this.containers.get(container);
    if (!ready) {
      ready = this.svc
        .getContainerClient(container)
        .createIfNotExists()
        .catch((e: unknown) => {
          this.containers.delete(container);
          throw transient('Blob storage is unavailable.', e);
        });
      this.containers.set(container, ready);
    }
    return ready;
  }
}
