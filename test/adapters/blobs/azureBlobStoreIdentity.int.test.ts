import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../app/config';
import { createRoot } from '../../../app/root';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { checkHealth } from '../../../core/controlPlane/health';
import type { StorageAccess } from '../../../adapters/blobs/storageAccess';
import { SasIngestCredentialIssuer } from '../../../adapters/ingestCredentials/sasIngestCredentialIssuer';
import { loadOrCreateTls } from '../../../local/arm/tls';
import { AZURITE_ACCOUNT, startAzurite, type RunningAzurite } from '../../../local/stack/azurite';
import { fetchTrusting } from '../../support/caFetch';
import { entraToken } from '../../support/entraToken';
import { uniqueName } from '../../support/stack';
import { blobStoreContract } from './contract';

// The identity path against a real storage endpoint: an Azurite of this file's own over HTTPS
// that takes Entra ID bearer tokens (claims checked, not signatures), issues user-delegation
// keys and validates user-delegation SAS (signature, expiry, permissions, scope). The store
// is given the account URL and a token, never the account key.
let azurite: RunningAzurite;
let dir: string;
let caCert: string;
let httpsFetch: typeof fetch;
const realFetch = globalThis.fetch;
const token = entraToken();

const access = (over: Partial<StorageAccess> = {}): StorageAccess => ({
  accountUrl: `${azurite.blobUrl}/${AZURITE_ACCOUNT}`,
  credential: 'static-token',
  token,
  caCert,
  ...over,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'azurite-oauth-'));
  const tls = loadOrCreateTls(dir);
  caCert = readFileSync(tls.caCertPath, 'utf8');
  azurite = await startAzurite({
    oauth: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
  });
  httpsFetch = fetchTrusting(caCert);
  // The contract reads its read URLs with fetch; this Azurite's CA is the test's own.
  globalThis.fetch = httpsFetch;
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Azurite 3.35 leaves the snapshot time out of the string it checks a user-delegation SAS
// against (its account-key check has it; Azure signs it in both): a snapshot read URL by
// identity is refused there, so only its form is checked here.
blobStoreContract('Azure (Azurite over HTTPS, by identity)', () => new AzureBlobStore(access()), {
  snapshotUrlsChecked: false,
});

describe('storage by identity', () => {
  it('refuses a token for another audience and a request with no token', async () => {
    const other = new AzureBlobStore(
      access({ token: entraToken({ aud: 'https://management.azure.com' }) }),
    );
    const refused = await other.ensureContainer(uniqueName('c')).then(
      () => undefined,
      (e: { details?: { status?: number } }) => e.details?.status,
    );
    expect([401, 403]).toContain(refused);
    const anonymous = await httpsFetch(
      `${azurite.blobUrl}/${AZURITE_ACCOUNT}/${uniqueName('c')}?restype=container`,
      { method: 'PUT' },
    );
    expect(anonymous.status).toBeGreaterThanOrEqual(400);
  });

  it('hands out read URLs as user-delegation SAS: the blob reads, nothing else does', async () => {
    const store = new AzureBlobStore(access());
    const container = uniqueName('c');
    await store.ensureContainer(container);
    await store.putBlockBlob(container, 'a', Buffer.from('first'));
    await store.putBlockBlob(container, 'b', Buffer.from('second'));
    const url = new URL(await store.readUrl(container, 'a', 300));
    for (const p of ['skoid', 'sktid', 'skt', 'ske', 'sks', 'skv'])
      expect(url.searchParams.get(p), p).toBeTruthy();
    expect(url.searchParams.get('sp')).toBe('r');
    const read = await httpsFetch(url.href);
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('first');
    const write = await httpsFetch(url.href, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      body: 'x',
    });
    expect(write.status).toBe(403);
    const otherBlob = new URL(url.href.replace(`/${container}/a?`, `/${container}/b?`));
    expect((await httpsFetch(otherBlob.href)).status).toBe(403);
    const forged = new URL(url.href);
    forged.searchParams.set('skoid', '00000000-0000-0000-0000-000000000000');
    expect((await httpsFetch(forged.href)).status).toBe(403);
  });

  it('refuses an expired read URL', async () => {
    // The URL was signed two hours ago for one minute (a clock of the store's own).
    const store = new AzureBlobStore(access(), () => Date.now() - 2 * 3600_000);
    const container = uniqueName('c');
    await store.ensureContainer(container);
    await store.putBlockBlob(container, 'a', Buffer.from('x'));
    const res = await httpsFetch(await store.readUrl(container, 'a', 60));
    expect(res.status).toBe(403);
  });

  it('asks for a delegation key once while it covers the SAS, and anew for a longer one', async () => {
    const now = Date.now();
    const store = new AzureBlobStore(access(), () => now);
    const container = uniqueName('c');
    await store.ensureContainer(container);
    await store.putBlockBlob(container, 'a', Buffer.from('x'));
    const keyOf = async (ttl: number) => {
      const q = new URL(await store.readUrl(container, 'a', ttl)).searchParams;
      return `${q.get('skt')}/${q.get('ske')}`;
    };
    const first = await keyOf(60);
    expect(await keyOf(3600)).toBe(first);
    const longer = await keyOf(2 * 24 * 3600);
    expect(longer).not.toBe(first);
    expect(await keyOf(60)).toBe(longer);
    await expect(store.readUrl(container, 'a', 8 * 24 * 3600)).rejects.toThrow(/7 days/);
  });

  it("issues an agent's upload SAS by identity: create and write in its own container only", async () => {
    const issuer = new SasIngestCredentialIssuer({
      storage: access(),
      eventHubs: {
        connection: 'Endpoint=sb://127.0.0.1/;SharedAccessKeyName=send;SharedAccessKey=a2V5',
        hub: 'haven-batches',
      },
    });
    const mine = await issuer.issue(uniqueName('m'));
    const theirs = await issuer.issue(uniqueName('m'));
    expect(new URLSearchParams(mine.blob.sas).get('skoid')).toBeTruthy();
    const put = (containerUrl: string, name: string, sas: string) =>
      httpsFetch(`${containerUrl}/${name}?${sas}`, {
        method: 'PUT',
        headers: { 'x-ms-blob-type': 'BlockBlob' },
        body: 'payload',
      });
    const own = await put(mine.blob.containerUrl, `${mine.blob.prefix}b1`, mine.blob.sas);
    expect(own.status).toBe(201);
    const read = await httpsFetch(
      `${mine.blob.containerUrl}/${mine.blob.prefix}b1?${mine.blob.sas}`,
    );
    expect(read.status).toBe(403);
    const other = await put(theirs.blob.containerUrl, `${theirs.blob.prefix}b1`, mine.blob.sas);
    expect(other.status).toBe(403);
    const store = new AzureBlobStore(access());
    expect(
      (await store.readBlob(mine.blob.container, `${mine.blob.prefix}b1`))?.data.toString(),
    ).toBe('payload');
  });

  it('the app configured by account URL and credential: storage healthy, blobs by identity', async () => {
    const rootWith = (tok: string) =>
      createRoot(
        loadConfig({
          HAVEN_DOCUMENT_STORE: 'memory',
          HAVEN_COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
          HAVEN_STORAGE_ACCOUNT_URL: `${azurite.blobUrl}/${AZURITE_ACCOUNT}`,
          HAVEN_STORAGE_CREDENTIAL: 'static-token',
          HAVEN_STORAGE_TOKEN: tok,
          HAVEN_STORAGE_CA_CERT: join(dir, 'ca.pem'),
        }),
      );
    const storageHealth = async (tok: string) =>
      (await checkHealth(rootWith(tok).controlPlane.probes)).dependencies.find(
        (d) => d.name === 'storage',
      )?.status;
    expect(await storageHealth(token)).toBe('ok');
    expect(await storageHealth(entraToken({ aud: 'https://vault.azure.net' }))).toBe('failed');
    const blobs = rootWith(token).replication.deps.blobs;
    const container = uniqueName('c');
    await blobs.ensureContainer(container);
    await blobs.putBlockBlob(container, 'x', Buffer.from('by identity'));
    const url = await blobs.readUrl(container, 'x', 60);
    expect(new URL(url).searchParams.get('skoid')).toBeTruthy();
    expect(await (await httpsFetch(url)).text()).toBe('by identity');
  });
});
