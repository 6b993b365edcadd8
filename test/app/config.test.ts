import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config';

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
