import type {
  ByteRange,
  OperationHandle,
  OperationOutcome,
  RecoveryTarget,
  ResourceId,
  ResourceSpec,
  ResourceView,
  SnapshotReader,
  VmAction,
  VmInstanceView,
} from '../../core/recovery/ports';
import { createArmClients, type ArmClients, type ArmTargetSettings } from './armClients';
import { armError, failedOperation } from './armErrors';
import {
  beginCompute,
  beginNetwork,
  isNetworkSpec,
  networkDelete,
  networkPut,
  pollSaved,
} from './armOperations';
import { apiVersionOf, parseId, powerStateOf, viewOf } from './armViews';
import { beginComputePut } from './beginComputePut';
import { snapshotChangedRanges } from './snapshotChangedRanges';
import { openSnapshotReader } from './snapshotReader';

/**
 * The recovery target over Azure Resource Manager with the real `@azure/arm-compute` and
 * `@azure/arm-network` clients: management.azure.com with a managed identity in Azure, the
 * stack's local endpoint (its CA, a static token) locally. Operations start with the clients'
 * pollers and are resumed from their serialized state by `poll` in any process.
 */
export class ArmRecoveryTarget implements RecoveryTarget {
  readonly subscriptionPath: string;
  private readonly c: ArmClients;
  private readonly endpoint: string;

  constructor(settings: ArmTargetSettings) {
    this.c = createArmClients(settings);
    this.endpoint = settings.endpoint.replace(/\/+$/, '');
    this.subscriptionPath = `/subscriptions/${settings.subscriptionId}`;
  }

  private url(id: string, apiVersion: string, extra = ''): string {
    return `${this.endpoint}${id}?api-version=${apiVersion}${extra}`;
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw armError(e, what);
    }
  }

  /** Plain ARM request through the client pipeline; a non-2xx answer becomes a RestError-like error. */
  private async rest(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown) {
    const res = await this.c.rest(method, url, body);
    if (res.status >= 400) {
      const err =
        (JSON.parse(res.bodyAsText || '{}') as { error?: { code?: string; message?: string } })
          .error ?? {};
      throw Object.assign(new Error(err.message ?? `HTTP ${res.status}`), {
        statusCode: res.status,
        code: err.code,
      });
    }
    return res;
  }

  beginPut(spec: ResourceSpec): Promise<OperationHandle> {
    const id = this.idOf(spec);
    return this.guard(`PUT ${id}`, async () => {
      const handle = (state?: string) => handleOf(id, 'put', state);
      if (spec.type === 'Microsoft.Resources/resourceGroups') {
        await this.rest('PUT', this.url(id, apiVersionOf(spec.type)), {
          location: spec.location,
          tags: spec.tags ?? {},
        });
        return handle(); // synchronous in ARM
      }
      if (isNetworkSpec(spec)) {
        const net = networkPut(spec);
        return handle(await beginNetwork(this.c, net.op, net.args));
      }
      return handle(await beginComputePut(this.c, spec));
    });
  }

  beginDelete(id: ResourceId): Promise<OperationHandle> {
    return this.guard(`DELETE ${id}`, async () => {
      const { type, resourceGroup, name } = parseId(id);
      const handle = (state?: string) => handleOf(id, 'delete', state);
      const parent = /\/virtualNetworks\/([^/]+)\/subnets\//i.exec(id)?.[1];
      const net = networkDelete(type, resourceGroup, name, parent);
      if (net) return handle(await beginNetwork(this.c, net.op, net.args));
      if (type === 'Microsoft.Compute/disks')
        return handle(await beginCompute(this.c.compute.disks.delete(resourceGroup, name)));
      if (type === 'Microsoft.Compute/snapshots')
        return handle(await beginCompute(this.c.compute.snapshots.delete(resourceGroup, name)));
      if (type === 'Microsoft.Compute/virtualMachines') {
        return handle(
          await beginCompute(
            this.c.compute.virtualMachines.delete(resourceGroup, name, { forceDeletion: true }),
          ),
        );
      }
      // A resource group: 202 + Location, polled by GET until it stops answering 202.
      const res = await this.rest('DELETE', this.url(id, apiVersionOf(type)));
      const location = res.headers.get('location');
      return handle(
        res.status === 202 && location ? JSON.stringify({ client: 'rest', location }) : undefined,
      );
    });
  }

  beginVmAction(vmId: ResourceId, action: VmAction): Promise<OperationHandle> {
    return this.guard(`${action} ${vmId}`, async () => {
      const { resourceGroup, name } = parseId(vmId);
      const vms = this.c.compute.virtualMachines;
      const poller =
        action === 'start'
          ? vms.start(resourceGroup, name)
          : action === 'powerOff'
            ? vms.powerOff(resourceGroup, name, { skipShutdown: false })
            : action === 'deallocate'
              ? vms.deallocate(resourceGroup, name)
              : vms.restart(resourceGroup, name);
      return { resourceId: vmId, action, state: await beginCompute(poller) };
    });
  }

  beginGrantAccess(id: ResourceId, seconds: number): Promise<OperationHandle> {
    return this.guard(`grant access ${id}`, async () => {
      const { type, resourceGroup, name } = parseId(id);
      const data = { access: 'Read' as const, durationInSeconds: seconds };
      const poller =
        type === 'Microsoft.Compute/snapshots'
          ? this.c.compute.snapshots.grantAccess(resourceGroup, name, data)
          : this.c.compute.disks.grantAccess(resourceGroup, name, data);
      return { resourceId: id, action: 'grantAccess', state: await beginCompute(poller) };
    });
  }

  beginRevokeAccess(id: ResourceId): Promise<OperationHandle> {
    return this.guard(`revoke access ${id}`, async () => {
      const { type, resourceGroup, name } = parseId(id);
      const poller =
        type === 'Microsoft.Compute/snapshots'
          ? this.c.compute.snapshots.revokeAccess(resourceGroup, name)
          : this.c.compute.disks.revokeAccess(resourceGroup, name);
      return { resourceId: id, action: 'revokeAccess', state: await beginCompute(poller) };
    });
  }

  poll(handle: OperationHandle): Promise<OperationOutcome> {
    return this.guard(`poll ${handle.action} ${handle.resourceId}`, async () => {
      const finish = async (): Promise<OperationOutcome> => {
        if (handle.action !== 'put') return { status: 'succeeded' };
        const resource = await this.get(handle.resourceId);
        if (resource && resource.provisioningState === 'Failed') {
          // The clients do not check the final provisioningState: a saga must not take it as done.
          return {
            status: 'failed',
            code: 'ProvisioningFailed',
            message: `${handle.resourceId} ended in provisioningState Failed.`,
            retryable: false,
          };
        }
        return { status: 'succeeded', ...(resource ? { resource } : {}) };
      };
      if (!handle.state) return finish();
      const saved = JSON.parse(handle.state) as { client: string; location?: string };
      if (saved.client === 'rest') {
        const res = await this.rest('GET', saved.location!);
        return res.status === 202 ? { status: 'running' } : { status: 'succeeded' };
      }
      const st = await pollSaved(this.c, handle);
      if (!st.done) return { status: 'running' };
      if (st.status === 'failed' || st.status === 'canceled' || st.error)
        return {
          status: 'failed',
          ...failedOperation(st.error ?? new Error(`The operation was ${st.status}.`)),
        };
      if (handle.action === 'grantAccess') {
        const sas = (st.result as { accessSAS?: string } | undefined)?.accessSAS;
        return sas
          ? { status: 'succeeded', accessUri: sas }
          : {
              status: 'failed',
              code: 'NoAccessUri',
              message: 'The grant returned no access URI.',
              retryable: true,
            };
      }
      return finish();
    });
  }

  get(id: ResourceId): Promise<ResourceView | undefined> {
    return this.guard(`GET ${id}`, async () => {
      const res = await this.c.rest('GET', this.url(id, apiVersionOf(parseId(id).type)));
      if (res.status === 404) return undefined;
      if (res.status >= 400) await this.rest('GET', this.url(id, apiVersionOf(parseId(id).type)));
      return viewOf(JSON.parse(res.bodyAsText ?? '{}') as Record<string, unknown>);
    });
  }

  list(resourceGroup: string): Promise<ResourceView[]> {
    return this.guard(`list ${resourceGroup}`, async () => {
      const out: ResourceView[] = [];
      let url: string | undefined = this.url(
        `${this.subscriptionPath}/resourceGroups/${resourceGroup}/resources`,
        '2021-04-01',
        '&$expand=provisioningState',
      );
      while (url) {
        const res = await this.c.rest('GET', url);
        if (res.status === 404) return [];
        if (res.status >= 400) await this.rest('GET', url);
        const page = JSON.parse(res.bodyAsText ?? '{}') as {
          value?: Record<string, unknown>[];
          nextLink?: string;
        };
        out.push(...(page.value ?? []).map(viewOf));
        url = page.nextLink;
      }
      return out;
    });
  }

  instanceView(vmId: ResourceId): Promise<VmInstanceView> {
    return this.guard(`instanceView ${vmId}`, async () => {
      const { resourceGroup, name } = parseId(vmId);
      const [view, vm] = await Promise.all([
        this.c.compute.virtualMachines.instanceView(resourceGroup, name),
        this.get(vmId),
      ]);
      const nics = await Promise.all(
        ((vm?.properties.networkInterfaceIds as string[] | undefined) ?? []).map((n) =>
          this.get(n),
        ),
      );
      const pips = await Promise.all(
        nics.map((n) =>
          n?.properties.publicIpId ? this.get(String(n.properties.publicIpId)) : undefined,
        ),
      );
      return {
        powerState: powerStateOf(view.statuses),
        privateIps: nics.map((n) => String(n?.properties.privateIp ?? '')).filter(Boolean),
        publicIps: pips.map((p) => String(p?.properties.ipAddress ?? '')).filter(Boolean),
      };
    });
  }

  bootDiagnostics(vmId: ResourceId): Promise<string | undefined> {
    return this.guard(`boot diagnostics ${vmId}`, async () => {
      const { resourceGroup, name } = parseId(vmId);
      const r = await this.c.compute.virtualMachines.retrieveBootDiagnosticsData(
        resourceGroup,
        name,
      );
      if (!r.serialConsoleLogBlobUri) return undefined;
      const res = await this.c.sas(r.serialConsoleLogBlobUri);
      return res.status === 200 ? (res.bodyAsText ?? '') : undefined;
    });
  }

  changedRanges(snapshotId: ResourceId, baseSnapshotId?: ResourceId): Promise<ByteRange[]> {
    return this.guard(`changed ranges ${snapshotId}`, async () => {
      return snapshotChangedRanges(this.c, snapshotId, baseSnapshotId);
    });
  }

  openSnapshot(snapshotId: ResourceId, seconds: number): Promise<SnapshotReader> {
    return this.guard(`read ${snapshotId}`, () => openSnapshotReader(this.c, snapshotId, seconds));
  }

  private idOf(spec: ResourceSpec): string {
    if (spec.type === 'Microsoft.Resources/resourceGroups')
      return `${this.subscriptionPath}/resourceGroups/${spec.name}`;
    if (spec.type === 'Microsoft.Network/virtualNetworks/subnets') {
      return `${this.subscriptionPath}/resourceGroups/${spec.resourceGroup}/providers/Microsoft.Network/virtualNetworks/${spec.virtualNetwork}/subnets/${spec.name}`;
    }
    return `${this.subscriptionPath}/resourceGroups/${spec.resourceGroup}/providers/${spec.type}/${spec.name}`;
  }
}

/** A started operation; no state when it finished at once (a synchronous answer). */
function handleOf(
  resourceId: ResourceId,
  action: OperationHandle['action'],
  state: string | undefined,
): OperationHandle {
  return { resourceId, action, ...(state ? { state } : {}) };
}
