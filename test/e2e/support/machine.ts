import * as path from 'node:path';
import { adminApi, enrollmentToken } from './admin';
import { agentJson, startAgent, type Exit, type StackProc } from './procs';

export interface Machine {
  machineId: string;
  diskId: string;
  stateDir: string;
  image: string;
}

/** Enrolls an agent (own state dir under `dir`), adds `image` as its disk, protects the machine. */
export async function protectedMachine(
  stack: StackProc,
  dir: string,
  image: string,
): Promise<Machine> {
  const stateDir = path.join(dir, 'agent');
  const token = await enrollmentToken(stack);
  const e = await agentJson<{ machineId: string }>(stateDir, [
    'enroll',
    '--api',
    stack.apiUrl,
    '--token',
    token,
    '--name',
    path.basename(dir),
  ]);
  const d = await agentJson<{ id: string }>(stateDir, ['disk', 'add', image]);
  await adminApi(stack, 'POST', `machines/${e.machineId}/protect`, {});
  return { machineId: e.machineId, diskId: d.id, stateDir, image };
}

export interface Point {
  id: string;
  disks?: { diskId: string; sha256?: string }[];
}

/** `run --once`: replicate, cut a bookmark, wait for its recovery point. */
export async function runOnce(m: Machine, timeoutS = 600): Promise<Point> {
  const r = await agentJson<{ recoveryPoint: Point }>(m.stateDir, [
    'run',
    '--once',
    '--timeout',
    String(timeoutS),
  ]);
  return r.recoveryPoint;
}

export const startRunOnce = (m: Machine, extra: string[] = []) =>
  startAgent(m.stateDir, ['run', '--once', '--json', ...extra]);

export interface Restored {
  bytesWritten: number;
  sizeBytes: number;
  digest: string;
  verified: boolean;
}

export const restore = (m: Machine, pointId: string, to: string) =>
  agentJson<Restored>(m.stateDir, ['restore', '--point', pointId, '--disk', m.diskId, '--to', to]);

export type { Exit };
