import * as path from 'node:path';
import { adminApi, enrollmentToken, type AdminTarget } from '../../support/adminApi';
import { enrollWithDisk } from '../../support/machines';
import { agentJson, startAgent, type Child } from '../../support/procs';

export interface Machine {
  machineId: string;
  diskId: string;
  stateDir: string;
  image: string;
}

/** The agent CLI on the machine's state dir. */
export const agentOn = (m: { stateDir: string }, args: string[], env?: NodeJS.ProcessEnv): Child =>
  startAgent([...args, '--state-dir', m.stateDir], env);

/** Runs the agent on the machine to its end (exit 0 or throws); its --json answer. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const agentJsonOn = <T = any>(m: { stateDir: string }, args: string[]): Promise<T> =>
  agentJson<T>([...args, '--state-dir', m.stateDir]);

/** Enrolls an agent (own state dir under `dir`), adds `image` as its disk, protects the machine. */
export async function protectedMachine(
  stack: AdminTarget,
  dir: string,
  image: string,
): Promise<Machine> {
  const stateDir = path.join(dir, 'agent');
  const token = await enrollmentToken(stack);
  const e = await enrollWithDisk({
    api: stack.apiUrl,
    token,
    stateDir,
    image,
    name: path.basename(dir),
  });
  await adminApi(stack, 'POST', `machines/${e.machineId}/protect`, {});
  return { ...e, stateDir, image };
}

export interface Point {
  id: string;
  disks?: { diskId: string; sha256?: string }[];
}

/** `run --once`: replicate, cut a bookmark, wait for its recovery point. */
export async function runOnce(m: Machine, timeoutS = 600): Promise<Point> {
  const r = await agentJsonOn<{ recoveryPoint: Point }>(m, [
    'run',
    '--once',
    '--timeout',
    String(timeoutS),
  ]);
  return r.recoveryPoint;
}

export const startRunOnce = (m: Machine, extra: string[] = []) =>
  agentOn(m, ['run', '--once', '--json', ...extra]);

export interface Restored {
  bytesWritten: number;
  sizeBytes: number;
  digest: string;
  verified: boolean;
}

export const restore = (m: Machine, pointId: string, to: string) =>
  agentJsonOn<Restored>(m, ['restore', '--point', pointId, '--disk', m.diskId, '--to', to]);
