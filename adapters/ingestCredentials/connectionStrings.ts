/** Parses `Key=Value;Key=Value` connection strings (values may contain '='). */
export function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export interface StorageAccountFacts {
  accountName: string;
  accountKey: string;
  blobEndpoint: string;
}

const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Account name, key and blob endpoint of a storage connection string (undefined if it has no key). */
export function storageAccountFacts(cs: string): StorageAccountFacts | undefined {
  const p = parseConnectionString(cs);
  if (p.UseDevelopmentStorage === 'true') {
    return {
      accountName: 'devstoreaccount1',
      accountKey: AZURITE_KEY,
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    };
  }
  if (!p.AccountName || !p.AccountKey) return undefined;
  const blobEndpoint =
    p.BlobEndpoint ??
    `${p.DefaultEndpointsProtocol ?? 'https'}://${p.AccountName}.blob.${p.EndpointSuffix ?? 'core.windows.net'}`;
  return {
    accountName: p.AccountName,
    accountKey: p.AccountKey,
    blobEndpoint: blobEndpoint.replace(/\/+$/, ''),
  };
}

export interface EventHubsFacts {
  /** sb://host[:port]/ */
  endpoint: string;
  host: string;
  keyName: string;
  key: string;
  /** Plain AMQP to a local emulator (`UseDevelopmentEmulator=true`). */
  useDevelopmentEmulator: boolean;
}

export function eventHubsFacts(cs: string): EventHubsFacts | undefined {
  const p = parseConnectionString(cs);
  const m = /^sb:\/\/([^/]+)\/?$/.exec(p.Endpoint ?? '');
  if (!m || !p.SharedAccessKeyName || !p.SharedAccessKey) return undefined;
  return {
    endpoint: `sb://${m[1]}/`,
    host: m[1]!,
    keyName: p.SharedAccessKeyName,
    key: p.SharedAccessKey,
    useDevelopmentEmulator: p.UseDevelopmentEmulator?.toLowerCase() === 'true',
  };
}
