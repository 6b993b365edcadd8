import type { AdminClient, ApiReply } from './client';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;

/** The flags `haven protect|resync` read. */
export interface ProtectionFlags {
  disk?: string[];
  policy?: string;
  reason?: string;
}

export const protectionOptions = {
  disk: { type: 'string', multiple: true },
  policy: { type: 'string' },
  reason: { type: 'string' },
} as const;

export const PROTECTION_USAGE = `  protect MACHINE [--disk ID ...] [--policy NAME]
  unprotect MACHINE
  resync MACHINE DISK [--reason TEXT]  replicate the disk again as a new generation (older points stay)`;

/** One line for a protect/unprotect reply (`{ item, job }`). */
function protectionLine(verb: string, r: ApiReply): string {
  const { item, job } = r.body as { item: Row; job: Row };
  return `${verb}: ${item.machineId} disks ${(item.disks as string[]).join(',')} policy ${item.policy}, state ${item.state}; job ${job.id}`;
}

/**
 * `haven protect|unprotect MACHINE` and `haven resync MACHINE DISK`.
 * `need(value, what)` throws the CLI's usage error when a positional is missing.
 */
export async function protectionCommand(
  [cmd, machine, disk]: (string | undefined)[],
  v: ProtectionFlags,
  client: AdminClient,
  print: Print,
  need: (v: string | undefined, what: string) => string,
): Promise<void> {
  const enc = encodeURIComponent;
  if (cmd === 'protect') {
    const body = {
      ...(v.disk?.length ? { disks: v.disk } : {}),
      ...(v.policy ? { policy: v.policy } : {}),
    };
    const r = await client.request(
      'POST',
      `machines/${enc(need(machine, 'MACHINE'))}/protect`,
      body,
    );
    const verb = r.status === 202 ? 'Protection enabling' : 'Already protected';
    return print(r.body, () => protectionLine(verb, r));
  }
  if (cmd === 'unprotect') {
    const path = `machines/${enc(need(machine, 'MACHINE'))}/disable-protection`;
    const r = await client.request('POST', path, {});
    const verb = r.status === 202 ? 'Protection disabling' : 'Protection disabled';
    return print(r.body, () => protectionLine(verb, r));
  }
  const path = `machines/${enc(need(machine, 'MACHINE'))}/disks/${enc(need(disk, 'DISK'))}/resync`;
  const r = await client.request('POST', path, v.reason ? { reason: v.reason } : {});
  const { disk: d, job, item } = r.body as { disk: Row; job: Row | null; item: Row | null };
  return print(
    r.body,
    () =>
      `${r.status === 202 ? 'Resync started' : 'Already resyncing'}: disk ${d.id} generation ${d.generation}${item ? `, item ${item.state}` : ''}${job ? `; job ${job.id}` : ''}`,
  );
}
