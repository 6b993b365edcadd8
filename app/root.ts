import { loadConfig, type HavenConfig } from './config';
import type { CollectionDef, DocumentStore } from '../core/documents/ports';
import { CosmosDocumentStore } from '../adapters/documents/cosmosDocumentStore';
import { MemoryDocumentStore } from '../adapters/documents/memoryDocumentStore';
import { createControlPlane, type ControlPlane } from '../core/controlPlane/controlPlane';
import { controlPlaneCollections } from '../core/controlPlane/model';
import { AesKeyWrapper, MissingKeyWrapper } from '../core/controlPlane/machineKeys';
import type { JobLauncher } from '../core/controlPlane/protection';
import type { HealthProbe } from '../core/controlPlane/health';
import { SasIngestCredentialIssuer } from '../adapters/ingestCredentials/sasIngestCredentialIssuer';
import { cosmosProbe, eventHubsProbe, storageProbe } from '../adapters/health/probes';
import { createReplication, type Replication } from '../core/replication';
import { replicationCollections, replicationCollectionsOf } from '../core/replication/state';
import { ControlPlaneDirectory } from '../core/replication/controlPlaneDirectory';
import { AzureBlobStore } from '../adapters/blobs/azureBlobStore';
import { EventGridBlobEvents, HostNudgeBlobEvents } from '../adapters/blobs/blobEvents';
import { createRecovery, type Recovery } from '../core/recovery';
import { recoveryCollections } from '../core/recovery/model';

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
  return [...controlPlaneCollections, ...replicationCollections(), ...recoveryCollections];
}

export function createRoot(config: HavenConfig, opts: RootOptions = {}): Root {
  const clock = opts.clock ?? Date.now;
  const documents: DocumentStore =
    config.documentStore === 'memory'
      ? new MemoryDocumentStore(clock)
      : new CosmosDocumentStore({ ...config.cosmos, now: clock });

  const probes: HealthProbe[] = [
    cosmosProbe(documents),
    storageProbe(config.storageConnection),
    ...(config.eventHubs
      ? [eventHubsProbe(config.eventHubs.connection, config.eventHubs.hub)]
      : []),
  ];
  const controlPlane = createControlPlane({
    documents,
    clock,
    keyWrapper: config.kek
      ? new AesKeyWrapper(Buffer.from(config.kek, 'base64'))
      : new MissingKeyWrapper(),
    ingest: new SasIngestCredentialIssuer({
      storageConnection: config.storageConnection,
      eventHubs: config.eventHubs,
      clock,
    }),
    probes,
    launcher: opts.launcher,
  });

  const replication = createReplication({
    blobs: new AzureBlobStore(config.storageConnection),
    // Azure: Event Grid raises blob-created itself; locally the host is nudged.
    events: config.hostNudge
      ? new HostNudgeBlobEvents(config.hostNudge.url, config.hostNudge.key)
      : new EventGridBlobEvents(),
    docs: replicationCollectionsOf(documents),
    machines: new ControlPlaneDirectory(documents),
    keys: controlPlane.machineKeys,
    clock,
  });

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

  let readiness: Promise<void> | undefined;
  return {
    config,
    clock,
    documents,
    controlPlane,
    replication,
    recovery,
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
