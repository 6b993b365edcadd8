import { getRoot } from '../../app/root';
import type { Collection, DocumentStore } from '../../core/documents/ports';
import type { Jobs } from '../../core/controlPlane/jobs';
import type { Machines } from '../../core/controlPlane/machines';
import type { ProtectedItems } from '../../core/controlPlane/protectedItems';
import type { BlobStore } from '../../core/replication/blobPorts';
import { REPLICATION_ALERTS } from '../../core/replication/state';

/** An alert raised by a protection saga (same container as the data path's alerts). */
export interface ProtectionAlertDoc {
  id: string;
  machineId: string;
  kind: 'initial-sync-stalled' | 'protection-failed';
  severity: 'critical' | 'error' | 'warning';
  message: string;
  details?: Record<string, unknown>;
  jobId: string;
  at: string;
}

/** What the enable-protection activities need: control-plane repositories and the blob port. */
export interface ProtectionDeps {
  blobs: BlobStore;
  documents: DocumentStore;
  items: ProtectedItems;
  machines: Machines;
  jobs: Jobs;
  alerts: Collection<ProtectionAlertDoc>;
  clock: () => number;
  /** Wait for the initial sync before alerting (config `initialSyncTimeoutSeconds`). */
  initialSyncTimeoutMs: number;
}

let override: (() => Promise<ProtectionDeps>) | undefined;

/** Tests and benchmarks install their own dependencies; the app uses the composition root. */
export function useProtectionDeps(factory: (() => Promise<ProtectionDeps>) | undefined): void {
  override = factory;
}

export async function protectionDeps(): Promise<ProtectionDeps> {
  if (override) return override();
  const root = await getRoot();
  return {
    blobs: root.replication.deps.blobs,
    documents: root.documents,
    items: root.controlPlane.protectedItems,
    machines: root.controlPlane.machines,
    jobs: root.controlPlane.jobs,
    alerts: root.documents.collection<ProtectionAlertDoc>(REPLICATION_ALERTS),
    clock: root.clock,
    initialSyncTimeoutMs: root.config.initialSyncTimeoutSeconds * 1000,
  };
}
