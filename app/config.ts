import { z } from 'zod';

/**
 * How the app authenticates to an Azure endpoint (ARM, Key Vault): a managed identity in Azure;
 * locally a static token and the local endpoint's CA (PEM or a path).
 */
const azureCredential = {
  credential: z.enum(['managed-identity', 'default', 'static-token']).default('managed-identity'),
  token: z.string().min(1).optional(),
  caCert: z.string().min(1).optional(),
  managedIdentityClientId: z.string().min(1).optional(),
};
const hasToken = (c: { credential: string; token?: string }) =>
  c.credential !== 'static-token' || !!c.token;

/**
 * Haven's whole configuration, read once from the environment (app settings in Azure,
 * `.haven/local.env` locally) by the composition root. Adapters are chosen from it; no
 * other module reads process.env.
 */
const storageAccount = z.union([
  z.object({ connection: z.string().min(1) }).strict(),
  z
    .object({ accountUrl: z.url(), ...azureCredential })
    .strict()
    .refine(hasToken, 'HAVEN_STORAGE_TOKEN is required with static-token'),
]);

export const configSchema = z.object({
  /**
   * The storage account: a connection string with the account key (`HAVEN_STORAGE_CONNECTION`,
   * the local stack), or its blob URL and a token credential (`HAVEN_STORAGE_ACCOUNT_URL`,
   * Azure: the managed identity; SAS are then user-delegation SAS). Exactly one of the two.
   */
  storage: storageAccount,
  /**
   * A second account for the replicas and the base blobs recovery imports from
   * (`HAVEN_REPLICA_STORAGE_CONNECTION` or `HAVEN_REPLICA_STORAGE_ACCOUNT_URL`, with the main
   * account's credential settings): in Azure a premium page-blob account, which holds page blobs
   * only (adapters/blobs/routedBlobStore.ts). Absent: one account holds everything.
   */
  replicaStorage: storageAccount.optional(),
  cosmos: z
    .object({
      endpoint: z.url(),
      key: z.string().min(1).optional(),
      database: z.string().min(1).default('haven'),
      /** Entra ID instead of the key (Azure: the managed identity, data-plane RBAC). */
      credential: z.enum(['managed-identity', 'default', 'static-token']).optional(),
      token: z.string().min(1).optional(),
      managedIdentityClientId: z.string().min(1).optional(),
      caCert: z.string().min(1).optional(),
    })
    .refine(
      (c) => !(c.key && c.credential),
      'HAVEN_COSMOS_KEY or HAVEN_COSMOS_CREDENTIAL, not both',
    )
    .refine(
      (c) => c.credential !== 'static-token' || !!c.token,
      'HAVEN_COSMOS_TOKEN is required with static-token',
    ),
  eventHubs: z
    .object({
      connection: z.string().min(1),
      hub: z.string().min(1).default('haven-batches'),
      /**
       * The Send-only rule whose key signs the agents' publisher tokens (Azure: not the rule the
       * ingest trigger listens with); defaults to `connection` (the local stack has one key).
       */
      signingConnection: z.string().min(1).optional(),
    })
    .optional(),
  /** Document store adapter: Cosmos DB, or in-process memory (demos, unit tests). */
  documentStore: z.enum(['cosmos', 'memory']).default('cosmos'),
  /** Key-encryption key for per-machine data keys: base64 of 32 bytes (a Key Vault secret in Azure). */
  kek: z
    .string()
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'HAVEN_KEK must be base64 of 32 bytes')
    .optional(),
  /**
   * The KEK as a Key Vault key (wrap/unwrap in the vault, RSA-OAEP-256): when set, new data keys
   * are wrapped with it and `kek` (if also set) only unwraps keys wrapped before. Azure: the
   * deployment's vault and `haven-kek-wrap` with the app's managed identity; locally the stack's
   * vault, its CA and a static token.
   */
  keyVault: z
    .object({
      url: z.url(),
      keyName: z.string().min(1).default('haven-kek-wrap'),
      ...azureCredential,
    })
    .refine(hasToken, 'HAVEN_KEYVAULT_TOKEN is required with static-token')
    .optional(),
  /**
   * Blob-written notifications for the hydrate trigger: absent in Azure (Event Grid delivers
   * them); locally the local host's nudge endpoint (POST /admin/host/blob-written) and its key.
   */
  hostNudge: z.object({ url: z.url(), key: z.string().min(1).optional() }).optional(),
  publicApiUrl: z.url().optional(),
  /** Enable-protection waits this long for the initial sync before alerting (initial-sync-stalled). */
  initialSyncTimeoutSeconds: z.coerce.number().int().positive().default(86_400),
  /** Recovery: the target resource group recovered machines go to unless their settings say otherwise. */
  recoveryResourceGroup: z.string().min(1).default('haven-recovery'),
  /** Recovery: default region of recovered machines (settings may override per machine). */
  recoveryLocation: z.string().min(1).default('westeurope'),
  /** Recovery sagas poll long-running ARM operations and the health probe this often. */
  recoveryPollMs: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** Point choice `latest` waits at most this long for what ingest accepted to be processed. */
  recoveryLatestWaitSeconds: z.coerce.number().int().min(0).max(86_400).default(300),
  /**
   * The recovery target (Azure Resource Manager): absent when HAVEN_ARM_SUBSCRIPTION_ID is unset
   * (recovery operations then fail with a clear error). Azure: management.azure.com with a
   * managed identity; locally the stack's ARM endpoint, its CA and a static token.
   */
  recoveryTarget: z
    .object({
      endpoint: z.url().default('https://management.azure.com'),
      subscriptionId: z.string().min(1),
      ...azureCredential,
      /** ARM id of the storage account of the replicas (managed-disk Import names it). */
      storageAccountId: z.string().min(1).optional(),
    })
    .refine(hasToken, 'HAVEN_ARM_TOKEN is required with static-token')
    .optional(),
  /**
   * Page writes a hydrator keeps in flight per replica (ReplicationOptions' writeConcurrency and
   * smallWritesInFlight). Azure's page blobs serve them in parallel: the defaults keep one near
   * its ~500 writes/s. The local storage emulator serves one request at a time on the CPU the
   * agent and ingest share: there more only queue, ahead of the claim-check uploads and staging
   * the RPO waits for (the local stack sets 4).
   */
  hydrateWritesInFlight: z.coerce.number().int().min(1).max(64).optional(),
  /** Haven's own site-down alert: every replicating machine of a site silent this long. */
  siteDownSeconds: z.coerce.number().int().min(10).max(86_400).default(300),
  /** How long a frontier waits for a missing batch before its generation stops (gapWatch.ts). */
  gapGraceSeconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
  /**
   * Alerts webhook as an Azure Monitor Secure Webhook: when set, a valid Entra token (issuer,
   * audience, one of the roles; keys from the JWKS URL or a pinned key) is required besides
   * the function key.
   */
  alertsEntra: z
    .object({
      issuer: z.string().min(1),
      audience: z.string().min(1),
      roles: z.array(z.string().min(1)).min(1),
      jwksUrl: z.url().optional(),
      key: z.string().min(1).optional(),
    })
    .refine((e) => e.jwksUrl || e.key, 'HAVEN_ALERTS_ENTRA_JWKS_URL or HAVEN_ALERTS_ENTRA_KEY')
    .optional(),
  maxBodyBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
});

export type HavenConfig = z.infer<typeof configSchema>;

export function loadConfig(env: Record<string, string | undefined>): HavenConfig {
  const parsed = configSchema.safeParse({
    storage: storageOf(env),
    replicaStorage: replicaStorageOf(env),
    cosmos: {
      endpoint: env.HAVEN_COSMOS_ENDPOINT,
      key: env.HAVEN_COSMOS_KEY,
      database: env.HAVEN_COSMOS_DATABASE,
      credential: env.HAVEN_COSMOS_CREDENTIAL,
      token: env.HAVEN_COSMOS_TOKEN,
      managedIdentityClientId: env.HAVEN_COSMOS_CLIENT_ID,
      caCert: env.HAVEN_COSMOS_CA_CERT,
    },
    eventHubs: env.HAVEN_EVENTHUBS_CONNECTION
      ? {
          connection: env.HAVEN_EVENTHUBS_CONNECTION,
          hub: env.HAVEN_EVENTHUBS_HUB,
          signingConnection: env.HAVEN_EVENTHUBS_SIGNING_CONNECTION,
        }
      : undefined,
    documentStore: env.HAVEN_DOCUMENT_STORE,
    kek: env.HAVEN_KEK,
    keyVault: env.HAVEN_KEYVAULT_URL
      ? {
          url: env.HAVEN_KEYVAULT_URL,
          keyName: env.HAVEN_KEK_KEY_NAME,
          credential: env.HAVEN_KEYVAULT_CREDENTIAL,
          token: env.HAVEN_KEYVAULT_TOKEN,
          caCert: env.HAVEN_KEYVAULT_CA_CERT,
          managedIdentityClientId: env.HAVEN_KEYVAULT_CLIENT_ID,
        }
      : undefined,
    hostNudge: env.HAVEN_HOST_NUDGE_URL
      ? { url: env.HAVEN_HOST_NUDGE_URL, key: env.HAVEN_HOST_NUDGE_KEY ?? env.HAVEN_ADMIN_KEY }
      : undefined,
    publicApiUrl: env.HAVEN_API_URL,
    initialSyncTimeoutSeconds: env.HAVEN_INITIAL_SYNC_TIMEOUT_SECONDS,
    recoveryResourceGroup: env.HAVEN_RECOVERY_RESOURCE_GROUP,
    recoveryLocation: env.HAVEN_RECOVERY_LOCATION,
    recoveryPollMs: env.HAVEN_RECOVERY_POLL_MS,
    recoveryLatestWaitSeconds: env.HAVEN_RECOVERY_LATEST_WAIT_SECONDS,
    siteDownSeconds: env.HAVEN_SITE_DOWN_SECONDS,
    gapGraceSeconds: env.HAVEN_GAP_GRACE_SECONDS,
    hydrateWritesInFlight: env.HAVEN_HYDRATE_WRITES_IN_FLIGHT,
    recoveryTarget: env.HAVEN_ARM_SUBSCRIPTION_ID
      ? {
          endpoint: env.HAVEN_ARM_ENDPOINT,
          subscriptionId: env.HAVEN_ARM_SUBSCRIPTION_ID,
          credential: env.HAVEN_ARM_CREDENTIAL,
          token: env.HAVEN_ARM_TOKEN,
          caCert: env.HAVEN_ARM_CA_CERT,
          managedIdentityClientId: env.HAVEN_ARM_CLIENT_ID,
          storageAccountId: env.HAVEN_STORAGE_ACCOUNT_ID,
        }
      : undefined,
    alertsEntra: env.HAVEN_ALERTS_ENTRA_ISSUER
      ? {
          issuer: env.HAVEN_ALERTS_ENTRA_ISSUER,
          audience: env.HAVEN_ALERTS_ENTRA_AUDIENCE,
          roles: (env.HAVEN_ALERTS_ENTRA_ROLES ?? 'ActionGroupsSecureWebhook')
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean),
          jwksUrl: env.HAVEN_ALERTS_ENTRA_JWKS_URL,
          key: env.HAVEN_ALERTS_ENTRA_KEY,
        }
      : undefined,
    maxBodyBytes: env.HAVEN_MAX_BODY_BYTES,
  });
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new Error(`Invalid Haven configuration: ${fields}. ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * The storage settings: the account URL (by identity) or the connection string, never both
 * (`AzureWebJobsStorage` stands in for a missing connection string only without a URL).
 */
function storageOf(env: Record<string, string | undefined>): unknown {
  const url = env.HAVEN_STORAGE_ACCOUNT_URL;
  const connection = env.HAVEN_STORAGE_CONNECTION;
  return accountOf(env, 'storage', { url, connection }, env.AzureWebJobsStorage);
}

/** The replica account's settings (same form, same credential), or undefined without one. */
function replicaStorageOf(env: Record<string, string | undefined>): unknown {
  const url = env.HAVEN_REPLICA_STORAGE_ACCOUNT_URL;
  const connection = env.HAVEN_REPLICA_STORAGE_CONNECTION;
  return url || connection ? accountOf(env, 'replicaStorage', { url, connection }) : undefined;
}

function accountOf(
  env: Record<string, string | undefined>,
  what: 'storage' | 'replicaStorage',
  set: { url?: string; connection?: string },
  fallbackConnection?: string,
): unknown {
  const prefix = what === 'storage' ? 'HAVEN_STORAGE' : 'HAVEN_REPLICA_STORAGE';
  if (set.url && set.connection)
    throw new Error(
      `Invalid Haven configuration: ${what}. Set ${prefix}_CONNECTION or ${prefix}_ACCOUNT_URL, not both.`,
    );
  if (!set.url) return { connection: set.connection ?? fallbackConnection };
  return {
    accountUrl: set.url,
    credential: env.HAVEN_STORAGE_CREDENTIAL,
    token: env.HAVEN_STORAGE_TOKEN,
    caCert: env.HAVEN_STORAGE_CA_CERT,
    managedIdentityClientId: env.HAVEN_STORAGE_CLIENT_ID,
  };
}
