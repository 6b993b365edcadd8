import { enrollWithDisk as enroll } from '../../support/machines';
import { startAgent, type Exit } from '../../support/procs';

export { startAgent };
export type AgentRun = Exit;

/** Runs the agent CLI to its end. */
export async function agent(args: string[], env?: NodeJS.ProcessEnv): Promise<AgentRun> {
  return startAgent(args, env).done;
}

/** One `run --once` into a capture dir that prints its result (and recovery point) as JSON. */
export function onceToCapture(capture: string, stateArgs: string[]): string[] {
  return ['run', '--once', '--json', '--timeout', '120', '--capture', capture, ...stateArgs];
}

/** Enrolls a state dir with the fake control plane and adds `image` as a disk; returns its id. */
export async function enrollWithDisk(
  cp: { url: string; token: string },
  image: string,
  stateArgs: string[],
): Promise<string> {
  const stateDir = stateArgs[stateArgs.indexOf('--state-dir') + 1]!;
  return (await enroll({ api: cp.url, token: cp.token, stateDir, image })).diskId;
}
