import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import {
  createDurableDriver,
  type DurableDriver,
  type DurableDriverOptions,
} from '../../../local/durable/driver';
import { deriveSystemKey } from '../../../local/durable/httpApi';
import { uniqueName } from '../../support/stack';
import { waitFor as waitUntil } from '../../support/waitFor';

export const MASTER_KEY = 'durable-test-master-key-0123456789';

export interface DurableHost {
  host: RunningHost;
  driver: DurableDriver;
  hub: string;
  webhooks: string;
  code: string;
  stop(): Promise<void>;
}

const quiet = { info() {}, warn() {}, error() {} };

export async function startDurableHost(
  storageConnection: string,
  opts: { entry?: string; settings?: Record<string, string>; driver?: DurableDriverOptions } = {},
): Promise<DurableHost> {
  const hub = opts.driver?.hubName ?? uniqueName('Hub');
  const driver = createDurableDriver({ hubName: hub, ...opts.driver });
  const host = await startHost({
    entry: [opts.entry ?? join(__dirname, 'fixtures', 'app.ts')],
    stateDir: mkdtempSync(join(tmpdir(), 'durable-host-')),
    masterKey: MASTER_KEY,
    settings: {
      AzureWebJobsStorage: storageConnection,
      HAVEN_ADMIN_KEY: MASTER_KEY,
      ...opts.settings,
    },
    drivers: [driver],
    log: process.env.DURABLE_TEST_LOG ? undefined : quiet,
  });
  return {
    host,
    driver,
    hub,
    webhooks: `${host.baseUrl}/runtime/webhooks/durabletask`,
    code: deriveSystemKey(MASTER_KEY),
    stop: () => host.stop(),
  };
}

export interface Status {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: { EventType: string; [k: string]: unknown }[];
}

export async function getStatus(
  h: DurableHost,
  id: string,
  query = '',
): Promise<{ status: number; body: Status }> {
  const res = await fetch(
    `${h.webhooks}/instances/${encodeURIComponent(id)}?code=${h.code}${query}`,
  );
  return { status: res.status, body: (res.status === 404 ? null : await res.json()) as Status };
}

export async function startOrchestration(
  h: DurableHost,
  name: string,
  input?: unknown,
  id?: string,
): Promise<string> {
  const res = await fetch(
    `${h.webhooks}/orchestrators/${name}${id ? `/${id}` : ''}?code=${h.code}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: input === undefined ? '' : JSON.stringify(input),
    },
  );
  if (res.status !== 202) throw new Error(`start ${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function waitFor(
  h: DurableHost,
  id: string,
  statuses = ['Completed', 'Failed', 'Terminated'],
  timeoutMs = 30_000,
  query = '',
): Promise<Status> {
  return waitUntil(
    `instance ${id} ${statuses.join('/')}`,
    async () => {
      const s = await getStatus(h, id, query);
      return s.body && statuses.includes(s.body.runtimeStatus) ? s.body : undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
}
