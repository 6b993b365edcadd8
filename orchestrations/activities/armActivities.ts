import type {
  OperationHandle,
  OperationOutcome,
  ResourceId,
  ResourceSpec,
  ResourceView,
  VmAction,
  VmInstanceView,
} from '../../core/recovery/ports';
import { consoleTail } from '../../core/recovery/consoleTail';
import { recoveryDeps, targetOf, type TargetFacts } from './recoveryDeps';

/**
 * Activities over the recovery target port. Each is one request (a `begin*` or one poll), so
 * no activity blocks for the length of an ARM operation: the saga waits on a durable timer
 * between polls. All are idempotent (PUT by name, delete of a missing resource succeeds).
 */
export const ArmActivity = {
  facts: 'Recovery_TargetFacts',
  beginPut: 'Recovery_BeginPut',
  beginDelete: 'Recovery_BeginDelete',
  beginVmAction: 'Recovery_BeginVmAction',
  poll: 'Recovery_Poll',
  get: 'Recovery_Get',
  instanceView: 'Recovery_InstanceView',
  consoleTail: 'Recovery_ConsoleTail',
} as const;

async function facts(): Promise<TargetFacts & { pollMs: number; latestWaitMs: number }> {
  const d = await recoveryDeps();
  const t = targetOf(d);
  if (!d.storageAccountId)
    throw new Error('No storage account id is configured (HAVEN_STORAGE_ACCOUNT_ID).');
  return {
    subscriptionPath: t.subscriptionPath,
    storageAccountId: d.storageAccountId,
    ...d.timing,
  };
}

const beginPut = async (spec: ResourceSpec): Promise<OperationHandle> =>
  targetOf(await recoveryDeps()).beginPut(spec);

const beginDelete = async (input: { id: ResourceId }): Promise<OperationHandle> =>
  targetOf(await recoveryDeps()).beginDelete(input.id);

const beginVmAction = async (input: { id: ResourceId; action: VmAction }) =>
  targetOf(await recoveryDeps()).beginVmAction(input.id, input.action);

const poll = async (handle: OperationHandle): Promise<OperationOutcome> =>
  targetOf(await recoveryDeps()).poll(handle);

const get = async (input: { id: ResourceId }): Promise<ResourceView | null> =>
  (await targetOf(await recoveryDeps()).get(input.id)) ?? null;

const instanceView = async (input: { id: ResourceId }): Promise<VmInstanceView | null> => {
  const t = targetOf(await recoveryDeps());
  return (await t.get(input.id)) ? t.instanceView(input.id) : null;
};

/**
 * The end of the VM's serial console (boot diagnostics), for a job whose VM did not come up;
 * best effort: a console that cannot be read is no reason to fail anything more.
 */
const consoleTailOf = async (input: { id: ResourceId }): Promise<string | null> => {
  try {
    return consoleTail(await targetOf(await recoveryDeps()).bootDiagnostics(input.id)) ?? null;
  } catch {
    return null;
  }
};

export const armActivities: Record<string, (input: never) => Promise<unknown>> = {
  [ArmActivity.facts]: facts,
  [ArmActivity.beginPut]: beginPut,
  [ArmActivity.beginDelete]: beginDelete,
  [ArmActivity.beginVmAction]: beginVmAction,
  [ArmActivity.poll]: poll,
  [ArmActivity.get]: get,
  [ArmActivity.instanceView]: instanceView,
  [ArmActivity.consoleTail]: consoleTailOf,
};
