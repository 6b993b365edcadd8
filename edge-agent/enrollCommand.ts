import { HavenError } from '../core/errors';
import { AGENT_VERSION, hostFacts } from './agentTypes';
import { str } from './cliArgs';
import type { CliContext } from './cliContext';
import { ControlPlaneClient } from './controlPlaneClient';
import { checkApiUrl, readEnrollToken } from './enrollInputs';
import { readJson } from './fsUtil';

/** `haven-agent enroll`: stores the credential and the data keys (a replacement token takes over a machine). */
export async function enrollCommand({ a, state, print }: CliContext): Promise<number> {
  const api = checkApiUrl(str(a, 'api', true)!);
  const token = await readEnrollToken({
    token: str(a, 'token'),
    tokenFile: str(a, 'token-file'),
  });
  const name = str(a, 'name') ?? hostFacts().hostname;
  const existing = await readJson(state.identityFile);
  if (existing)
    throw new HavenError('conflict', `This agent is already enrolled (${state.identityFile}).`);
  const disks = await state.disks();
  const e = await new ControlPlaneClient(api).enroll({
    token,
    hostname: name,
    os: hostFacts().os,
    agentVersion: AGENT_VERSION,
    disks: disks.map((d) => ({
      id: d.id,
      sizeBytes: d.sizeBytes,
      logicalSectorSize: d.sectorSize,
    })),
  });
  const previousKeys = e.replaced?.previousKeys.map((k) => ({
    keyId: k.keyId,
    dataKey: k.key,
  }));
  await state.saveIdentity({
    api,
    machineId: e.machineId,
    credential: e.credential,
    keyId: e.dataKey.keyId,
    dataKey: e.dataKey.key,
    ...(previousKeys?.length ? { previousKeys } : {}),
    name,
    enrolledAt: new Date().toISOString(),
  });
  print(
    e.replaced
      ? `Took over machine ${e.machineId}: the old agent's credential no longer works; new batches use a new data key.`
      : `Enrolled as machine ${e.machineId}.`,
    { machineId: e.machineId, siteId: e.siteId, stateDir: state.dir, replaced: !!e.replaced },
  );
  return 0;
}
