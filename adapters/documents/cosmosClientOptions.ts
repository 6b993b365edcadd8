import { Agent } from 'node:https';
import type { CosmosClientOptions } from '@azure/cosmos';
import { pemText, tokenCredentialOf, type CredentialSettings } from '../identity/tokenCredential';

export interface CosmosStoreOptions {
  endpoint: string;
  /** The account key; without it, `credential` (Entra ID, data-plane RBAC). */
  key?: string;
  credential?: CredentialSettings['credential'];
  token?: string;
  managedIdentityClientId?: string;
  /** PEM text or a path: the only CA trusted for the endpoint (a local HTTPS stand-in's). */
  caCert?: string;
  database: string;
  /** Injected clock for expiry checks. */
  now?: () => number;
}

/**
 * The client's options: the key, or (no key sent at all) an Entra ID token credential, so the
 * account can run with local auth off.
 */
export function cosmosClientOptions(opts: CosmosStoreOptions): CosmosClientOptions {
  const ca = pemText(opts.caCert);
  const base = {
    endpoint: opts.endpoint,
    connectionPolicy: { enableEndpointDiscovery: false },
    ...(ca ? { agent: new Agent({ ca, keepAlive: true }) } : {}),
  };
  if (!opts.credential) return { ...base, key: opts.key };
  const { credential, token, managedIdentityClientId } = opts;
  return {
    ...base,
    aadCredentials: tokenCredentialOf(
      { credential, token, managedIdentityClientId },
      'HAVEN_COSMOS_TOKEN',
    ),
  };
}
