import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { VmRunner } from '../vm/types';
import { ArmError, groupNotFound, notFound } from './armError';
import { parseResourceId, resourceId } from './armRoute';
import { key, type ArmStore, type StoredOperation, type StoredResource } from './armStore';
import type { FaultSpec } from './faults';

/** What a provider answers: status, ARM JSON, headers (LRO URLs). */
export interface ArmReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ArmRequest {
  method: string;
  route: {
    subscription: string;
    resourceGroup: string;
    type: string;
    name: string;
    parent?: string;
  };
  query: URLSearchParams;
  body: Record<string, unknown>;
  apiVersion: string;
  /** An injected failed or slow operation for this call (see faults.ts). */
  fault?: FaultSpec;
}

/**
 * Shared by the resource providers: the store, the VM runner, storage access for Import, the
 * endpoint's own base URL (operation and access URLs must be absolute on its own host), and
 * long-running operations: `begin` records an operation, runs its work in the background and
 * answers with `Azure-AsyncOperation` and `Location` (never `Retry-After`, like ARM mostly).
 */
export class ArmContext {
  baseUrl = '';
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    readonly store: ArmStore,
    readonly runner: VmRunner,
    readonly opts: {
      subscriptionId: string;
      storageConnection?: string;
      vmMemoryMiB: number;
      location: string;
    },
  ) {}

  get dataDir(): string {
    return join(this.store.dir, 'disks');
  }

  get vmDir(): string {
    return join(this.store.dir, 'vms');
  }

  requireGroup(subscription: string, resourceGroup: string): StoredResource {
    const g = this.store.get(
      resourceId(subscription, resourceGroup, 'Microsoft.Resources/resourceGroups', resourceGroup),
    );
    if (!g) throw groupNotFound(resourceGroup);
    return g;
  }

  /** A resource referenced by id inside a body (a subnet, a disk, a NIC…), of the expected type. */
  ref(id: unknown, type: string, what: string): StoredResource {
    const parsed = typeof id === 'string' ? parseResourceId(id) : undefined;
    if (!parsed || parsed.type.toLowerCase() !== type.toLowerCase()) {
      throw new ArmError(
        400,
        'InvalidParameter',
        `The ${what} id '${String(id)}' is not a valid ${type} id.`,
      );
    }
    const found = this.store.get(id as string);
    if (!found) throw notFound(type, parsed.name, parsed.resourceGroup);
    return found;
  }

  opUrl(op: StoredOperation, result: boolean, apiVersion: string): string {
    const [ns] = op.kind.split('/');
    const sub = op.resourceId.split('/')[2];
    return `${this.baseUrl}/subscriptions/${sub}/providers/${ns}/locations/${this.opts.location}/${result ? 'operationResults' : 'operations'}/${op.id}?api-version=${apiVersion}`;
  }

  /**
   * Starts a long-running operation on `resourceId`. `work` returns the operation's result body
   * (what its Location URL answers once done) and throws an `ArmError` to fail it. Injected faults
   * for this call (a failed or slow operation) apply here.
   */
  begin(
    req: Pick<ArmRequest, 'apiVersion' | 'fault'>,
    kind: string,
    id: string,
    work: () => Promise<unknown>,
  ): Record<string, string> {
    const { apiVersion, fault } = req;
    const op: StoredOperation = {
      id: randomUUID(),
      status: 'InProgress',
      resourceId: id,
      kind,
      startedAt: new Date().toISOString(),
    };
    this.store.putOperation(op);
    const task = (async () => {
      if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.mode === 'lro')
        throw new ArmError(
          500,
          fault.code ?? 'InternalOperationError',
          fault.message ?? 'Injected failure.',
        );
      return work();
    })().then(
      (result) => this.finish(op.id, { status: 'Succeeded', result }),
      (e: unknown) => {
        const err =
          e instanceof ArmError
            ? e
            : new ArmError(500, 'InternalOperationError', (e as Error)?.message ?? String(e));
        this.finish(op.id, { status: 'Failed', error: { code: err.code, message: err.message } });
      },
    );
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
    return {
      'azure-asyncoperation': this.opUrl(op, false, apiVersion),
      location: this.opUrl(op, true, apiVersion),
    };
  }

  private finish(id: string, patch: Partial<StoredOperation>): void {
    const op = this.store.operation(id);
    if (!op) return;
    this.store.putOperation({ ...op, ...patch, endedAt: new Date().toISOString() });
  }

  /** Sets a resource's provisioningState (the LRO's visible end on the resource itself). */
  provisioned(
    id: string,
    state: 'Succeeded' | 'Failed' | 'Updating' | 'Creating' | 'Deleting',
  ): void {
    const r = this.store.get(id);
    if (r) this.store.put({ ...r, properties: { ...r.properties, provisioningState: state } });
  }

  /** Operations still running in this process (tests and shutdown wait for them). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  /** Operations left InProgress by a previous process can never finish: they failed. */
  failInterrupted(): void {
    for (const op of this.store.operations()) {
      if (op.status !== 'InProgress') continue;
      this.finish(op.id, {
        status: 'Failed',
        error: {
          code: 'OperationInterrupted',
          message: 'The endpoint restarted while the operation ran.',
        },
      });
      const r = this.store.get(op.resourceId);
      if (r && /ing$/.test(String(r.properties.provisioningState)))
        this.provisioned(r.id, 'Failed');
    }
  }

  same(a: string | undefined, b: string | undefined): boolean {
    return a !== undefined && b !== undefined && key(a) === key(b);
  }
}
