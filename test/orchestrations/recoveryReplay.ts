import type { OrchestrationHandler } from 'durable-functions';
import type { RecoveryJobInput } from '../../core/recovery/operations';
import { defaultRecoverySettings } from '../../core/recovery/settings';
import { Replay } from './replayHarness';

export interface Call {
  name: string;
  input: Record<string, unknown>;
}

/** Answers an activity call (throwing fails the task: the saga's retry policy then applies). */
export type Responder = (call: Call, calls: Call[]) => unknown;

export const SUB = '/subscriptions/sub-1';

export const recoveryInput = (
  operation: RecoveryJobInput['operation'],
  choice?: string,
): RecoveryJobInput => ({
  machineId: 'm-1',
  operation,
  ...(choice ? { choice } : {}),
  settings: defaultRecoverySettings({
    machineId: 'm-1',
    hostname: 'web01',
    disks: ['sda', 'sdb'],
    ipv4: ['192.168.7.21'],
    resourceGroup: 'rg-dr',
    location: 'local',
  }),
  disks: [
    { diskId: 'sda', os: true },
    { diskId: 'sdb', os: false },
  ],
  sourceIps: ['192.168.7.21'],
});

/**
 * Drives a recovery saga with the real SDK over synthetic histories: every pending activity is
 * answered by `respond` (in scheduling order), every timer fires, until the saga ends or waits
 * for nothing it was given. Returns every activity call made.
 */
export async function runRecovery(
  fn: OrchestrationHandler,
  name: string,
  input: RecoveryJobInput,
  respond: Responder,
  instanceId = 'job-00000000000000abcdef',
): Promise<{ r: Replay; calls: Call[] }> {
  const r = new Replay(fn, { instanceId, name, input });
  const calls: Call[] = [];
  await r.start();
  for (let guard = 0; guard < 2000; guard++) {
    const acts = r.activities();
    if (acts.length) {
      const messages = acts.map((a) => {
        const call = {
          name: a.name,
          input: JSON.parse(a.input ?? 'null') as Record<string, unknown>,
        };
        calls.push(call);
        try {
          return r.complete(a.taskId, respond(call, calls));
        } catch (e) {
          return r.fail(a.taskId, (e as Error).message);
        }
      });
      await r.deliver(messages);
      continue;
    }
    const timers = r.timers();
    if (!timers.length) return { r, calls };
    const next = timers.reduce((a, b) => (a.fireAt < b.fireAt ? a : b));
    r.now = new Date(Math.max(r.now.getTime(), Date.parse(next.fireAt)));
    await r.deliver([r.fire(next.timerId)]);
  }
  throw new Error('saga did not settle');
}

/**
 * A well-behaved target: PUTs and deletes finish on the second poll, a missing vnet, disks
 * import, the VM runs and its probe answers 503 once, then 200.
 */
export function happyTarget(over: Partial<Record<string, Responder>> = {}): Responder {
  const polls = new Map<string, number>();
  let probes = 0;
  return (call, calls) => {
    const o = over[call.name];
    if (o) return o(call, calls);
    const i = call.input;
    switch (call.name) {
      case 'Recovery_TargetFacts':
        return {
          subscriptionPath: SUB,
          storageAccountId: `${SUB}/resourceGroups/st/providers/Microsoft.Storage/storageAccounts/sa`,
          pollMs: 200,
          latestWaitMs: 60_000,
        };
      case 'Recovery_ResolvePoint': {
        const id = String(i.choice).startsWith('latest') ? 'p1' : String(i.choice);
        return { id, machineId: 'm-1', time: '2026-01-01T00:00:00Z', consistency: 'crash' };
      }
      case 'Recovery_Materialize':
        return {
          state: 'materialized',
          point: {
            id: String(i.pointId),
            time: '2026-01-01T00:00:00Z',
            consistency: 'crash',
            disks: ['sda', 'sdb'].map((d) => ({
              diskId: d,
              blob: `m-1/${d}/g1.vhd`,
              snapshot: 'snap',
              sizeBytes: 1 << 25,
            })),
          },
        };
      case 'Recovery_CopyBase':
        return { sourceUri: `http://127.0.0.1:10000/devstoreaccount1/recovery/${String(i.name)}` };
      case 'Recovery_Get':
        return null;
      case 'Recovery_BeginPut':
        return { resourceId: String(i.name), action: 'put', state: `op-${String(i.name)}` };
      case 'Recovery_BeginDelete':
        return { resourceId: String(i.id), action: 'delete', state: `del-${String(i.id)}` };
      case 'Recovery_Poll': {
        const key = String(i.state);
        const n = (polls.get(key) ?? 0) + 1;
        polls.set(key, n);
        if (n < 2) return { status: 'running' };
        return {
          status: 'succeeded',
          resource: { properties: key.endsWith('-nic') ? { privateIp: '192.168.7.21' } : {} },
        };
      }
      case 'Recovery_InstanceView':
        return { powerState: 'running', privateIps: ['192.168.7.21'], publicIps: ['127.1.0.5'] };
      case 'Recovery_Probe':
        probes++;
        return probes === 1
          ? { connected: false }
          : probes === 2
            ? { connected: true, status: 503 }
            : { connected: true, status: 200 };
      default:
        return true;
    }
  };
}
