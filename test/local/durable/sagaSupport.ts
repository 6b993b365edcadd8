import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { configSchema } from '../../../app/config';
import { createRoot, type Root } from '../../../app/root';
import { HubStore } from '../../../local/durable/store';
import { EventType } from '../../../local/durable/history';
import { isVhdFooter } from '../../../core/disk/vhdFooter';
import { adminRequest } from '../../support/adminApi';
import { completeFileLines } from '../../support/completeLines';
import { built, spawnNode, stopChild } from '../../support/procs';
import { sharedStack, uniqueName } from '../../support/stack';
import { waitFor } from '../../support/waitFor';
import { expect } from 'vitest';
import { deriveSystemKey } from '../../../local/durable/httpApi';
import { MASTER_KEY } from './support';

export interface SagaEnv {
  settings: Record<string, string>;
  hub: string;
  effects: string;
  stateDir: string;
  root: Root;
  machineId: string;
}

/** A fresh task hub and Cosmos database, a site and an enrolled machine with two disks. */
export async function sagaEnv(extra: Record<string, string> = {}): Promise<SagaEnv> {
  const { storageConnection, cosmosEndpoint, cosmosKey } = sharedStack();
  const dir = mkdtempSync(join(tmpdir(), 'durable-saga-'));
  const settings: Record<string, string> = {
    AzureWebJobsStorage: storageConnection,
    HAVEN_STORAGE_CONNECTION: storageConnection,
    HAVEN_COSMOS_ENDPOINT: cosmosEndpoint,
    HAVEN_COSMOS_KEY: cosmosKey,
    HAVEN_COSMOS_DATABASE: uniqueName('saga'),
    HAVEN_ADMIN_KEY: MASTER_KEY,
    HAVEN_KEK: randomBytes(32).toString('base64'),
    HAVEN_DURABLE_HUB: uniqueName('Saga'),
    DURABLE_TEST_EFFECTS: join(dir, 'effects.jsonl'),
    ...extra,
  };
  const root = createRoot(
    configSchema.parse({
      storage: { connection: storageConnection },
      cosmos: {
        endpoint: cosmosEndpoint,
        key: cosmosKey,
        database: settings.HAVEN_COSMOS_DATABASE,
      },
      kek: settings.HAVEN_KEK,
    }),
  );
  await root.ready();
  const cp = root.controlPlane;
  await cp.sites.create({ name: 'main' });
  const { token } = await cp.enrollment.issueToken('main', { ttlSeconds: 600 });
  const { machineId } = await cp.enrollment.enroll({
    token,
    hostname: 'srv1',
    os: 'linux',
    disks: [
      { id: 'sda', sizeBytes: 3 * 1024 * 1024, logicalSectorSize: 512 },
      { id: 'sdb', sizeBytes: 1024 * 1024 + 512, logicalSectorSize: 512 },
    ],
  });
  return {
    settings,
    hub: settings.HAVEN_DURABLE_HUB!,
    effects: settings.DURABLE_TEST_EFFECTS!,
    stateDir: join(dir, 'host'),
    root,
    machineId,
  };
}

export interface HostChild {
  baseUrl: string;
  child: ChildProcess;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnSagaHost(
  env: SagaEnv,
  entry = join(__dirname, 'fixtures', 'sagaApp.ts'),
): Promise<HostChild> {
  const c = spawnNode(join(__dirname, 'durableHostMain.ts'), [built(entry), env.stateDir], {
    env: { DURABLE_HOST_SETTINGS: JSON.stringify(env.settings) },
  });
  if (process.env.DURABLE_TEST_LOG)
    c.child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  const ready = await c.waitForOutput(/^Haven host ready at (\S+)/m, { stream: 'stdout' });
  return {
    baseUrl: ready[1]!,
    child: c.child,
    async kill() {
      await stopChild(c, 'SIGKILL');
    },
    async stop() {
      await stopChild(c, 'SIGTERM');
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies checked by the tests
type Json = any;

/** The host's HTTP API with the master key (test/support/adminApi); `path` from the root. */
export async function api(
  h: HostChild,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const r = await adminRequest(
    { apiUrl: h.baseUrl, env: { HAVEN_ADMIN_KEY: MASTER_KEY } },
    method,
    path,
    body,
  );
  return { status: r.status, json: r.json ?? null };
}

export function effectLines(env: SagaEnv): string[] {
  return completeFileLines(env.effects).map((l) => {
    const e = JSON.parse(l) as { name: string; input: unknown };
    return `${e.name}|${JSON.stringify(e.input)}`;
  });
}

/** Activities whose completion is committed in storage (in the history or waiting in the inbox). */
export async function committedActivities(env: SagaEnv, instanceId: string): Promise<Set<string>> {
  const store = new HubStore(env.settings.AzureWebJobsStorage!, env.hub);
  const inst = await store.getInstance(instanceId);
  const out = new Set<string>();
  if (!inst) return out;
  const history = await store.readHistory(instanceId, inst.executionId, inst.ep);
  const head = await store.readPartitionHead(instanceId);
  const scheduled = new Map<number, string>();
  for (const e of history) {
    if (e.EventType === EventType.TaskScheduled)
      scheduled.set(e.EventId, `${String(e.Name)}|${String(e.Input)}`);
  }
  const done = new Set<number>();
  for (const e of history)
    if (e.EventType === EventType.TaskCompleted) done.add(e.TaskScheduledId as number);
  for (const m of head.inbox)
    if (m.msg.kind === 'taskCompleted' && m.msg.executionId === inst.executionId)
      done.add(m.msg.taskId);
  for (const id of done) if (scheduled.has(id)) out.add(scheduled.get(id)!);
  return out;
}

export async function replicaBlobs(env: SagaEnv): Promise<{ name: string; footerOk: boolean }[]> {
  const container = BlobServiceClient.fromConnectionString(
    env.settings.AzureWebJobsStorage!,
  ).getContainerClient('replicas');
  if (!(await container.exists())) return [];
  const out: { name: string; footerOk: boolean }[] = [];
  for await (const b of container.listBlobsFlat({ prefix: `${env.machineId}/` })) {
    const size = b.properties.contentLength!;
    const tail = await container.getBlobClient(b.name).downloadToBuffer(size - 512, 512);
    out.push({ name: b.name, footerOk: isVhdFooter(tail) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Waits until `probe` returns something other than undefined (test/support/waitFor). */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 20,
): Promise<T> {
  const got = await waitFor(
    what,
    async () => {
      const v = await probe();
      return v === undefined ? undefined : { v };
    },
    { timeoutMs, intervalMs: everyMs },
  );
  return got.v;
}

const code = deriveSystemKey(MASTER_KEY);

export async function raise(
  h: HostChild,
  id: string,
  event: string,
  data: unknown = null,
): Promise<number> {
  const res = await fetch(
    `${h.baseUrl}/runtime/webhooks/durabletask/instances/${id}/raiseEvent/${event}?code=${code}`,
    {
      method: 'POST',
      body: JSON.stringify(data),
    },
  );
  return res.status;
}

export async function durableStatus(h: HostChild, id: string) {
  const res = await fetch(`${h.baseUrl}/runtime/webhooks/durabletask/instances/${id}?code=${code}`);
  return res.status === 404
    ? undefined
    : ((await res.json()) as { runtimeStatus: string; output: unknown; customStatus: unknown });
}

export async function protect(h: HostChild, env: SagaEnv): Promise<string> {
  const r = await api(h, 'POST', `/api/machines/${env.machineId}/protect`, {});
  expect(r.status).toBe(202);
  return r.json.job.id as string;
}

export async function finalJob(
  h: HostChild,
  jobId: string,
  states = ['succeeded', 'failed', 'cancelled'],
) {
  return waitUntil(`job ${jobId}`, async () => {
    const r = await api(h, 'GET', `/api/jobs/${jobId}`);
    return states.includes(r.json?.state) ? r.json : undefined;
  });
}

/**
 * One saga run: a fresh environment (with `extra` settings), a host, and a protect call; `body`
 * gets the job id. The host is stopped afterwards, whatever happens.
 */
export async function withProtectSaga(
  extra: Record<string, string>,
  body: (h: HostChild, env: SagaEnv, jobId: string) => Promise<void>,
): Promise<void> {
  const env = await sagaEnv(extra);
  const h = await spawnSagaHost(env);
  try {
    await body(h, env, await protect(h, env));
  } finally {
    await h.stop();
  }
}

/** Waits until the machine's protected item is in `state`. */
export async function waitForItemState(env: SagaEnv, state: string): Promise<void> {
  await waitUntil(state, async () =>
    (await env.root.controlPlane.protectedItems.find(env.machineId))?.doc.state === state
      ? true
      : undefined,
  );
}
