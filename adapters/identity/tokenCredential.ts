import { readFileSync } from 'node:fs';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

/** How an adapter authenticates to an Azure endpoint (ARM, Key Vault). */
export interface CredentialSettings {
  credential: 'managed-identity' | 'default' | 'static-token';
  /** static-token only: the local endpoint's bearer token. */
  token?: string;
  /** managed-identity: a user-assigned identity's client id. */
  managedIdentityClientId?: string;
}

/** A fixed bearer token: a local endpoint's. In Azure the credential is an identity. */
class StaticTokenCredential implements TokenCredential {
  constructor(private readonly token: string) {}
  async getToken(): Promise<AccessToken> {
    return { token: this.token, expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

/** The credential the settings name: a managed identity in Azure, a static token locally. */
export function tokenCredentialOf(s: CredentialSettings, tokenSetting: string): TokenCredential {
  if (s.credential === 'static-token') {
    if (!s.token) throw new Error(`A static-token credential needs ${tokenSetting}.`);
    return new StaticTokenCredential(s.token);
  }
  if (s.credential === 'managed-identity') {
    return s.managedIdentityClientId
      ? new ManagedIdentityCredential({ clientId: s.managedIdentityClientId })
      : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential();
}

/** PEM text given as itself or as a path to it (a local endpoint's CA). */
export const pemText = (caCert: string | undefined): string | undefined =>
  caCert && !caCert.includes('-----BEGIN') ? readFileSync(caCert, 'utf8') : caCert;
