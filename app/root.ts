import { loadConfig, type HavenConfig } from './config';
import type { CollectionDef, DocumentStore } from '../core/documents/ports';
import { CosmosDocumentStore } from '../adapters/documents/cosmosDocumentStore';
import { MemoryDocumentStore } from '../adapters/documents/memoryDocumentStore';
import { createControlPlane, type ControlPlane } from '../core/controlPlane/controlPlane';
import { controlPlaneCollections } from '../core/controlPlane/model';
import {
  AesKeyWrapper,
  KeyRing,
  MissingKeyWrapper,
  type KeyWrapper,
} from '../core/controlPlane/machineKeys';
import { createKeyVaultKeyWrapper } from '../adapters/keyvault/keyVaultKeyWrapper';
import type { JobLauncher } from '../core/controlPlane/protection';
import type { HealthProbe } from '../core/controlPlane/health';
import { SasIngestCredentialIssuer } from '../adapters/ingestCredentials/sasIngestCredentialIssuer';
import { cosmosProbe, eventHubsProbe, storageProbe } from '../adapters/health/probes';
import { createReplication, type Replication } from '../core/replication';
import { replicationCollections, replicationCollectionsOf } from '../core/replication/state';
import { ControlPlaneDirectory } from '../core/replication/controlPlaneDirectory';
import { AzureBlobStore } from '../adapters/blobs/azureBlobStore';
import { RoutedBlobStore } from '../adapters/blobs/routedBlobStore';
import type { BlobStore } from '../core/replication/blobPorts';
import { REPLICAS } from '../core/replication/names';
import { RECOVERY_CONTAINER } from '../core/recovery/resourceNames';
import { EventGridBlobEvents, HostNudgeBlobEvents } from '../adapters/blobs/blobEvents';
import { createRecovery, type Recovery } from '../core/recovery';
import type { RecoveryTarget } from '../core/recovery/ports';
import { ArmRecoveryTarget } from '../adapters/arm/armRecoveryTarget';
import { recoveryCollections } from '../core/recovery/model';
import { createPlans, type PlansPart } from '../core/plans';
import { planCollections } from '../core/plans/model';
import { createAlerts, type AlertsPart } from '../core/alerts';
import { alertCollections } from '../core/alerts/model';
import {
  staticSigningKey,
  type EntraTokenRules,
  type SigningKeys,
} from '../core/alerts/entraToken';
import { jwksSigningKeys } from '../adapters/jwks/jwksSigningKeys';

/**
 * The one composition root: builds every adapter and service from the config, once per
 * process (lazily, on first use). Functions get services from `getRoot()`; tests build their
 * own with `createRoot(config)` and install it with `useRoot()`.
 *
 * To add a part: put its collections in `collections()` and its services in `Root`/`createRoot`.
 */
export interface Root {
  readonly config: HavenConfig;
  readonly clock: () => number;
  readonly documents: DocumentStore;
  /** Sites, enrollment, machines (+ auth, keys, health), policies, protection, jobs. */
  readonly controlPlane: ControlPlane;
  /** Data path: ingest, hydrate, recovery points, retention, replication health. */
  readonly replication: Replication;
  /** Recovery settings, records and the service that starts recovery jobs. */
  readonly recovery: Recovery;
  /** The cloud machines are recovered into (ARM); absent when not configured. */
  readonly recoveryTarget?: RecoveryTarget;
  /** Facts of that target the sagas need besides the port. */
  readonly recoveryConfig?: { subscriptionId: string; storageAccountId?: string };
  /** Recovery plans, their operations and drill reports. */
  readonly plans: PlansPart;
  /** Alert triggers, alert receipts and decisions, Haven's site-down signal. */
  readonly alerts: AlertsPart;
  /** The alerts webhook's Secure Webhook check (absent: the function key alone). */
  readonly alertsEntra?: { rules: EntraTokenRules; keys: SigningKeys };
  /** Creates containers etc. once; every `getRoot()` awaits it. */
  ready(): Promise<void>;
}

export interface RootOptions {
  /** Clock for expiry decisions (tests move it). */
  clock?: () => number;
  /** Starts job orchestrations (Durable); without it jobs stay queued. */
  launcher?: JobLauncher;
}

/** Every document collection of the app, created at startup (createIfNotExists). */
export function collections(): CollectionDef[] {
  return [
    ...controlPlaneCollections,
    ...replicationCollections(),
    ...recoveryCollections,
    ...planCollections,
    ...alertCollections,
  ];
}

/** The Key Vault key wraps when configured; HAVEN_KEK then only unwraps what it wrapped before. */
function keyWrapperOf(config: HavenConfig): KeyWrapper {
  const aes = config.kek ? new AesKeyWrapper(Buffer.from(config.kek, 'base64')) : undefined;
  if (!config.keyVault) return aes ?? new MissingKeyWrapper();
  return new KeyRing(createKeyVaultKeyWrapper(config.keyVault), aes ? [aes] : []);
}

export function createRoot(config: HavenConfig, opts: RootOptions = {}): Root {
  const clock = opts.clock ?? Date.now;
  const documents: DocumentStore =
    config.documentStore === 'memory'
      ? new MemoryDocumentStore(clock)
      : new CosmosDocumentStore({ ...config.cosmos, now: clock });

  const probes: HealthProbe[] = [
    cosmosProbe(documents),
    storageProbe(config.storage),
    ...(config.replicaStorage ? [storageProbe(config.replicaStorage, 'replicaStorage')] : []),
    ...(config.eventHubs
      ? [eventHubsProbe(config.eventHubs.connection, config.eventHubs.hub)]
      : []),
  ];
  const controlPlane = createControlPlane({
    documents,
    clock,
    keyWrapper: keyWrapperOf(config),
    ingest: new SasIngestCredentialIssuer({
      storage: config.storage,
      eventHubs: config.eventHubs,
      clock,
    }),
    probes,
    launcher: opts.launcher,
  });

  const replication = createReplication(
    {
      blobs: blobStoreOf(config),
      // Azure: Event Grid raises blob-created itself; locally the host is nudged.
      events: config.hostNudge
        ? new HostNudgeBlobEvents(config.hostNudge.url, config.hostNudge.key)
        : new EventGridBlobEvents(),
      docs: replicationCollectionsOf(documents),
      machines: new ControlPlaneDirectory(documents),
      keys: controlPlane.machineKeys,
      clock,
    },
    {
      ...(config.hydrateWritesInFlight
        ? {
            writeConcurrency: config.hydrateWritesInFlight,
            smallWritesInFlight: config.hydrateWritesInFlight,
          }
        : {}),
      ...(config.gapGraceSeconds ? { gapGraceMs: config.gapGraceSeconds * 1000 } : {}),
    },
  );

  const recovery = createRecovery({
    documents,
    machines: controlPlane.machines,
    items: controlPlane.protectedItems,
    jobs: controlPlane.jobs,
    groups: controlPlane.groups,
    replication: replication.deps,
    defaults: { resourceGroup: config.recoveryResourceGroup, location: config.recoveryLocation },
    clock,
  });

  const plans = createPlans({
    documents,
    jobs: controlPlane.jobs,
    groups: controlPlane.groups,
    replication: replication.deps,
    clock,
  });
  const alerts = createAlerts({
    documents,
    jobs: controlPlane.jobs,
    clock,
    siteDownSeconds: config.siteDownSeconds,
  });
  const entra = config.alertsEntra;
  const armTarget = config.recoveryTarget;

  let readiness: Promise<void> | undefined;
  return {
    config,
    clock,
    documents,
    controlPlane,
    replication,
    recovery,
    ...(armTarget
      ? {
          recoveryTarget: new ArmRecoveryTarget(armTarget),
          recoveryConfig: {
            subscriptionId: armTarget.subscriptionId,
            ...(armTarget.storageAccountId ? { storageAccountId: armTarget.storageAccountId } : {}),
          },
        }
      : {}),
    plans,
    alerts,
    ...(entra
      ? {
          alertsEntra: {
            rules: { issuer: entra.issuer, audience: entra.audience, roles: entra.roles },
            keys: entra.key ? staticSigningKey(entra.key) : jwksSigningKeys(entra.jwksUrl!),
          },
        }
      : {}),
    ready() {
      readiness ??= documents.ensure(collections()).catch((e: unknown) => {
        readiness = undefined; // retry on the next request
        throw e;
      });
      return readiness;
    },
  };
}

let current: Root | undefined;

/** The process's root, built from `process.env` on first use, without waiting for readiness. */
export function rootInstance(): Root {
  current ??= createRoot(loadConfig(process.env));
  return current;
}

/** The process's root, ready (containers exist). */
export async function getRoot(): Promise<Root> {
  const root = rootInstance();
  await root.ready();
  return root;
}

/** Installs an explicitly built root (tests, the local host with in-process settings). */
export function useRoot(root: Root | undefined): void {
  current = root;
}

/**
 * The data path's blob store: one account, or the replicas and the recovery base blobs (copied
 * from their snapshots, imported through the same account) in a second one.
 */
function blobStoreOf(config: HavenConfig): BlobStore {
  const main = new AzureBlobStore(config.storage);
  if (!config.replicaStorage) return main;
  const inReplicaAccount = new Set([REPLICAS, RECOVERY_CONTAINER]);
  return new RoutedBlobStore(main, new AzureBlobStore(config.replicaStorage), (c) =>
    inReplicaAccount.has(c),
  );
}
