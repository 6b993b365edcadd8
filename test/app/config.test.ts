import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config';
import { createRoot } from '../../app/root';
import { DEFAULT_REPLICATION_OPTIONS } from '../../core/replication/ports';

const base = { HAVEN_COSMOS_ENDPOINT: 'https://cosmos.example/' };
const url = 'https://sthaven.blob.core.windows.net';

describe('storage and Cosmos DB settings', () => {
  it('takes the connection string (the local stack) or the account URL by identity', () => {
    const byKey = loadConfig({ ...base, HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' });
    expect(byKey.storage).toEqual({ connection: 'UseDevelopmentStorage=true' });
    const byIdentity = loadConfig({ ...base, HAVEN_STORAGE_ACCOUNT_URL: url });
    expect(byIdentity.storage).toEqual({ accountUrl: url, credential: 'managed-identity' });
  });

  it('the account URL wins over AzureWebJobsStorage; both storage settings are an error', () => {
    const cfg = loadConfig({
      ...base,
      HAVEN_STORAGE_ACCOUNT_URL: url,
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    });
    expect(cfg.storage).toMatchObject({ accountUrl: url });
    expect(() =>
      loadConfig({
        ...base,
        HAVEN_STORAGE_ACCOUNT_URL: url,
        HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true',
      }),
    ).toThrow(/HAVEN_STORAGE_CONNECTION or HAVEN_STORAGE_ACCOUNT_URL, not both/);
    expect(() => loadConfig(base)).toThrow(/Invalid Haven configuration: storage/);
    expect(() =>
      loadConfig({
        ...base,
        HAVEN_STORAGE_ACCOUNT_URL: url,
        HAVEN_STORAGE_CREDENTIAL: 'static-token',
      }),
    ).toThrow(/HAVEN_STORAGE_TOKEN is required/);
  });

  it('the replicas in a second account: by connection string or by URL with the same identity, optional', () => {
    const local = { ...base, HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' };
    expect(loadConfig(local).replicaStorage).toBeUndefined();
    const conn = 'AccountName=havenreplicas;AccountKey=a2V5';
    expect(loadConfig({ ...local, HAVEN_REPLICA_STORAGE_CONNECTION: conn }).replicaStorage).toEqual(
      { connection: conn },
    );
    const replicaUrl = 'https://sthavenrep.blob.core.windows.net';
    const byIdentity = loadConfig({
      ...base,
      HAVEN_STORAGE_ACCOUNT_URL: url,
      HAVEN_STORAGE_CLIENT_ID: 'client-1',
      HAVEN_REPLICA_STORAGE_ACCOUNT_URL: replicaUrl,
    });
    expect(byIdentity.replicaStorage).toEqual({
      accountUrl: replicaUrl,
      credential: 'managed-identity',
      managedIdentityClientId: 'client-1',
    });
    expect(() =>
      loadConfig({
        ...local,
        HAVEN_REPLICA_STORAGE_ACCOUNT_URL: replicaUrl,
        HAVEN_REPLICA_STORAGE_CONNECTION: conn,
      }),
    ).toThrow(
      /replicaStorage\. Set HAVEN_REPLICA_STORAGE_CONNECTION or HAVEN_REPLICA_STORAGE_ACCOUNT_URL, not both/,
    );
    expect(() => loadConfig({ ...local, HAVEN_REPLICA_STORAGE_ACCOUNT_URL: 'not a url' })).toThrow(
      /Invalid Haven configuration: replicaStorage/,
    );
  });

  it('Cosmos DB by key or by identity, not both', () => {
    const storage = { HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' };
    expect(loadConfig({ ...base, ...storage, HAVEN_COSMOS_KEY: 'k' }).cosmos).toMatchObject({
      key: 'k',
    });
    const mi = loadConfig({ ...base, ...storage, HAVEN_COSMOS_CREDENTIAL: 'managed-identity' });
    expect(mi.cosmos).toMatchObject({ credential: 'managed-identity' });
    expect(mi.cosmos.key).toBeUndefined();
    expect(() =>
      loadConfig({
        ...base,
        ...storage,
        HAVEN_COSMOS_KEY: 'k',
        HAVEN_COSMOS_CREDENTIAL: 'managed-identity',
      }),
    ).toThrow(/HAVEN_COSMOS_KEY or HAVEN_COSMOS_CREDENTIAL, not both/);
  });
});

describe('hydrate settings', () => {
  const env = { ...base, HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' };

  it('the composition root hands page writes in flight to hydrate, or keeps its defaults', () => {
    const app = {
      ...env,
      HAVEN_DOCUMENT_STORE: 'memory',
      HAVEN_KEK: randomBytes(32).toString('base64'),
    };
    const set = createRoot(loadConfig({ ...app, HAVEN_HYDRATE_WRITES_IN_FLIGHT: '2' }));
    expect(set.replication.options).toMatchObject({ writeConcurrency: 2, smallWritesInFlight: 2 });
    const unset = createRoot(loadConfig(app)).replication.options;
    expect(unset.writeConcurrency).toBe(DEFAULT_REPLICATION_OPTIONS.writeConcurrency);
    expect(unset.smallWritesInFlight).toBe(DEFAULT_REPLICATION_OPTIONS.smallWritesInFlight);
  });

  it('page writes in flight: unset keeps the default, 1–64 is taken, anything else refused', () => {
    expect(loadConfig(env).hydrateWritesInFlight).toBeUndefined();
    expect(loadConfig({ ...env, HAVEN_HYDRATE_WRITES_IN_FLIGHT: '2' }).hydrateWritesInFlight).toBe(
      2,
    );
    for (const bad of ['0', '65', 'many', '2.5'])
      expect(() => loadConfig({ ...env, HAVEN_HYDRATE_WRITES_IN_FLIGHT: bad })).toThrow(
        /Invalid Haven configuration: hydrateWritesInFlight/,
      );
  });
});
