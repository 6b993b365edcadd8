import { createHmac } from 'node:crypto';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { transient } from '../../core/errors';
import type { IngestCredentialIssuer, IngestCredentials } from '../../core/controlPlane/ingest';
import { eventHubsFacts, storageAccountFacts } from './connectionStrings';

export const INCOMING_CONTAINER = 'incoming';

export interface SasIssuerOptions {
  storageConnection: string;
  eventHubs?: { connection: string; hub: string };
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
 * `<hub>/publishers/<machineId>` and a container SAS for claim-check uploads.
 *
 * Blob SAS scope: a flat-namespace account cannot scope a SAS to a name prefix (directory
 * SAS needs hierarchical namespace), so this is a container SAS on `incoming` with only
 * create+write, 15 minutes. The ingest function only accepts a claim check whose blob is
 * under `incoming/<publisher machineId>/` and whose bytes authenticate under that machine's
 * data key, so a machine cannot inject data into another machine's stream with it.
 */
export class SasIngestCredentialIssuer implements IngestCredentialIssuer {
  private readonly clock: () => number;
  private readonly ttl: number;
  private containerReady?: Promise<unknown>;

  constructor(private readonly opts: SasIssuerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.ttl = opts.ttlSeconds ?? 15 * 60;
  }

  async issue(machineId: string): Promise<IngestCredentials> {
    const eh = this.opts.eventHubs && eventHubsFacts(this.opts.eventHubs.connection);
    if (!this.opts.eventHubs || !eh) {
      throw transient('Event Hubs is not configured (HAVEN_EVENTHUBS_CONNECTION with a SAS key).');
    }
    const storage = storageAccountFacts(this.opts.storageConnection);
    if (!storage) throw transient('The storage connection has no account key to sign a SAS with.');

    const now = this.clock();
    const expirySeconds = Math.floor(now / 1000) + this.ttl;
    const expiresAt = new Date(expirySeconds * 1000);
    const hub = this.opts.eventHubs.hub;
    const resourceUri = `sb://${eh.host}/${hub}/publishers/${machineId}`;

    const credential = new StorageSharedKeyCredential(storage.accountName, storage.accountKey);
    await this.ensureContainer(storage.blobEndpoint, credential);
    const permissions = ContainerSASPermissions.parse('cw').toString();
    const sas = generateBlobSASQueryParameters(
      {
        containerName: INCOMING_CONTAINER,
        permissions: ContainerSASPermissions.parse(permissions),
        // A little slack for clock skew between agent and storage.
        startsOn: new Date(now - 5 * 60 * 1000),
        expiresOn: expiresAt,
        protocol: storage.blobEndpoint.startsWith('https')
          ? SASProtocol.Https
          : SASProtocol.HttpsAndHttp,
      },
      credential,
    ).toString();

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
        containerUrl: `${storage.blobEndpoint}/${INCOMING_CONTAINER}`,
        container: INCOMING_CONTAINER,
        prefix: `${machineId}/`,
        sas,
        permissions,
        expiresAt: expiresAt.toISOString(),
      },
    };
  }

  /** The agent cannot create the container with its SAS; make sure it exists (once per process). */
  private ensureContainer(
    blobEndpoint: string,
    credential: StorageSharedKeyCredential,
  ): Promise<unknown> {
    this.containerReady ??= new BlobServiceClient(blobEndpoint, credential)
      .getContainerClient(INCOMING_CONTAINER)
      .createIfNotExists()
      .catch((e: unknown) => {
        this.containerReady = undefined;
        throw transient('Blob storage is unavailable.', e);
      });
    return this.containerReady;
  }
}
