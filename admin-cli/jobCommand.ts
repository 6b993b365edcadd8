import type { AdminClient } from './client';
import { details, table } from './table';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;
type Need = (v: string | undefined, what: string) => string;

export interface JobFlags {
  wait?: boolean;
  comment?: string;
}

export const jobOptions = {
  comment: { type: 'string' },
} as const;

export const JOB_USAGE = `  job JOB [--wait]                    a job (a plan job lists each machine's outcome and child job)
  job resume JOB [--comment TEXT]     a job waiting for a manual action goes on (approves an alert decision)
  job cancel JOB [--comment TEXT]     stop a plan, drill or alert-decision job (denies an approval)
  job restart JOB [--wait]            a plan job again, for the machines that did not succeed`;

const ENDED = new Set(['succeeded', 'partially-succeeded', 'failed', 'cancelled']);

/** Follows a job until it ends (500 ms polls). */
export async function waitForJob(client: AdminClient, id: string): Promise<Row> {
  for (;;) {
    const j = (await client.request('GET', `jobs/${encodeURIComponent(id)}`)).body as Row;
    if (ENDED.has(String(j.state))) return j;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A job as lines: its state, steps, each machine of a plan job, the error. */
export function jobText(j: Row): string {
  const steps = (j.steps as { name: string; state: string; detail?: string }[] | undefined) ?? [];
  const result = (j.result ?? {}) as Row;
  const machines = (result.machines as Row[] | undefined) ?? [];
  const err = j.error as { message?: string } | undefined;
  const width = Math.max(18, ...steps.map((s) => s.name.length));
  const lines = [
    `job ${String(j.id)} ${String(j.type)}: ${String(j.state)}${j.parentJobId ? ` (part of ${String(j.parentJobId)})` : ''}`,
    ...steps.map((s) => `  ${s.name.padEnd(width)} ${s.state}${s.detail ? `  ${s.detail}` : ''}`),
  ];
  if (machines.length) {
    const rows = machines.map((m) => ({
      ...m,
      vm: (m.vm as Row | undefined)?.publicIp ?? (m.vm as Row | undefined)?.privateIp,
      detail: m.error ?? m.note,
    }));
    lines.push(
      table(rows, ['machineId', 'group', 'state', 'jobId', 'pointId', 'vm', 'detail'])
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  if (j.state === 'waiting-for-manual-action')
    lines.push(`  waiting for a manual action: haven job resume ${String(j.id)}`);
  if (j.allowedActions && (j.allowedActions as string[]).length)
    lines.push(`  allowed: ${(j.allowedActions as string[]).join(', ')}`);
  if (err?.message) lines.push(`  error: ${err.message}`);
  // A recovered VM that did not come up: the end of its serial console, as the job kept it.
  if (typeof result.bootDiagnostics === 'string') {
    lines.push('  serial console (its end):');
    lines.push(...result.bootDiagnostics.split('\n').map((l) => `    ${l}`));
  }
  if (!steps.length && !machines.length && result.outcome !== undefined)
    lines.push(details(result).replace(/^/gm, '  '));
  return lines.join('\n');
}

/** Prints the job; with --wait, the final one (a job that did not succeed is exit 1). */
export async function printJob(
  client: AdminClient,
  job: Row,
  wait: boolean | undefined,
  print: Print,
): Promise<void> {
  const j = wait ? await waitForJob(client, String(job.id)) : job;
  print(j, () => jobText(j));
  if (wait && j.state !== 'succeeded')
    throw new Error(
      `job ${String(j.id)} ${String(j.state)}${(j.error as Row | undefined)?.message ? `: ${String((j.error as Row).message)}` : ''}`,
    );
}

/** `haven job JOB [--wait]`, `haven job resume|cancel JOB [--comment]`, `haven job restart JOB`. */
export async function jobCommand(
  [sub, arg]: (string | undefined)[],
  v: JobFlags,
  client: AdminClient,
  print: Print,
  need: Need,
): Promise<void> {
  const enc = encodeURIComponent;
  if (sub === 'resume' || sub === 'cancel' || sub === 'restart') {
    const id = need(arg, 'JOB');
    const body = sub !== 'restart' && v.comment ? { comment: v.comment } : {};
    const r = (await client.request('POST', `jobs/${enc(id)}/${sub}`, body)).body as Row;
    if (sub === 'restart') return printJob(client, r, v.wait, print);
    return print(r, () => `${sub === 'resume' ? 'Resumed' : 'Cancel requested for'} job ${id}.`);
  }
  const j = (await client.request('GET', `jobs/${enc(need(sub, 'JOB'))}`)).body as Row;
  return printJob(client, j, v.wait, print);
}
