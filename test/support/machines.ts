import { agentJson } from './procs';

export interface EnrolledDisk {
  machineId: string;
  diskId: string;
}

/**
 * `haven-agent enroll` on `stateDir` with a control plane (the local stack's or a fake one),
 * then `disk add IMAGE`: the machine and the disk it protects.
 */
export async function enrollWithDisk(opts: {
  api: string;
  token: string;
  stateDir: string;
  image: string;
  name?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<EnrolledDisk> {
  const st = ['--state-dir', opts.stateDir];
  const name = opts.name ? ['--name', opts.name] : [];
  const e = await agentJson<{ machineId: string }>(
    ['enroll', '--api', opts.api, '--token', opts.token, ...name, ...st],
    opts.env,
  );
  const d = await agentJson<{ id: string }>(['disk', 'add', opts.image, ...st], opts.env);
  return { machineId: e.machineId, diskId: d.id };
}
