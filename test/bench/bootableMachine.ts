import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  makeBootableServerImage,
  type BootableServerOptions,
} from '../../local/images/bootableServer';
import { adminApi, enrollmentToken, type AdminTarget } from '../support/adminApi';
import { enrollWithDisk } from '../support/machines';
import { agentJson } from '../support/procs';

/**
 * A server with a bootable disk under `dir` (its image and agent state), enrolled, protected
 * and replicated once (`run --once`: it has a recovery point); its machine id.
 */
export async function bootableMachine(
  stack: AdminTarget,
  dir: string,
  image: BootableServerOptions,
): Promise<string> {
  mkdirSync(dir);
  const path = join(dir, 'server.img');
  makeBootableServerImage(path, image);
  const stateDir = join(dir, 'agent');
  const e = await enrollWithDisk({
    api: stack.apiUrl,
    token: await enrollmentToken(stack),
    stateDir,
    image: path,
  });
  await adminApi(stack, 'POST', `machines/${e.machineId}/protect`, {});
  await agentJson(['run', '--once', '--state-dir', stateDir]);
  return e.machineId;
}
