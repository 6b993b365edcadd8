import type { AgentState } from './agentState';
import type { ControlPlaneClient } from './controlPlaneClient';

/**
 * Takes the new data key an admin asked for and saves it before anything uses it (a crash after
 * this keeps using it); the caller then seals new batches under it. Batches already spooled
 * keep the old key, which the cloud still holds, so nothing needs re-sealing.
 */
export async function rotateDataKey(
  api: ControlPlaneClient,
  state: AgentState,
  machineId: string,
): Promise<{ keyId: string; dataKey: string }> {
  const k = await api.takeDataKey(machineId);
  // Read back: an earlier rotation of this run saved a newer identity than the one we started with.
  const cur = await state.identity();
  // The old key stays with the agent: reverse batches sealed under it may still arrive.
  const previousKeys = [...(cur.previousKeys ?? []), { keyId: cur.keyId, dataKey: cur.dataKey }];
  await state.saveIdentity({ ...cur, keyId: k.keyId, dataKey: k.dataKey, previousKeys });
  return k;
}
