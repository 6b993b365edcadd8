import { randomBytes } from 'node:crypto';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { beforeAll, expect } from 'vitest';
import { configSchema, type HavenConfig } from '../../../app/config';
import { createRoot, useRoot, type Root } from '../../../app/root';
import { controlPlaneCollections } from '../../../core/controlPlane/model';
import type { Handler } from '../../../functions/http/handler';
import { operationOf } from '../../../functions/controlPlane/api';
import { createEnrollmentToken, createSite } from '../../../functions/controlPlane/sites';
import { enroll } from '../../../functions/controlPlane/enrollment';
import { heartbeat, ingestToken } from '../../../functions/controlPlane/agent';
import type { DiskFacts } from '../../../core/controlPlane/schemas';
import { sharedStack, uniqueName } from '../../support/stack';

export const EH_CONNECTION =
  'Endpoint=sb://haven-test.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleS1mb3ItdGVzdHM=';

/** A root over the shared Cosmos emulator with a database of its own, installed for handlers. */
export function testRoot(overrides: Partial<HavenConfig> = {}, clock?: () => number): Root {
  const { cosmosEndpoint, cosmosKey, storageConnection } = sharedStack();
  const config = configSchema.parse({
    storage: { connection: storageConnection },
    cosmos: { endpoint: cosmosEndpoint, key: cosmosKey, database: uniqueName('cp') },
    eventHubs: { connection: EH_CONNECTION },
    kek: randomBytes(32).toString('base64'),
    maxBodyBytes: 4096,
    ...overrides,
  });
  const root = createRoot(config, { clock });
  useRoot(root);
  return root;
}

export interface CallInit {
  method?: string;
  path: string;
  params?: Record<string, string>;
  /** Object → JSON; string → sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  contentType?: string;
}

/** Calls a handler the way the host would, and normalizes its response. */
export async function call(h: Handler, init: CallInit): Promise<Reply> {
  const body =
    init.body === undefined
      ? undefined
      : { string: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) };
  const req = new HttpRequest({
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    url: `http://localhost/api/${init.path}`,
    params: init.params ?? {},
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body,
  });
  const res: HttpResponseInit = await h(req, new InvocationContext({ logHandler: () => {} }));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((res.headers ?? {}) as Record<string, string>)) {
    headers[k.toLowerCase()] = v;
  }
  const json =
    res.jsonBody !== undefined
      ? JSON.parse(JSON.stringify(res.jsonBody))
      : typeof res.body === 'string'
        ? JSON.parse(res.body)
        : undefined;
  const status = res.status ?? 200;
  // Contract: every body matches the schema the OpenAPI document publishes for it.
  const op = operationOf.get(h);
  if (op?.response && (status < 300 || op.errorsUseResponse)) {
    const checked = op.response.safeParse(json);
    if (!checked.success) {
      throw new Error(`${op.name} answered off-schema: ${JSON.stringify(checked.error.issues)}`);
    }
  }
  return { status, headers, json, contentType: headers['content-type'] };
}

/** Every stored document (id + ETag) of the control plane, to prove a request wrote nothing. */
export async function storeSnapshot(root: Root): Promise<string[]> {
  const out: string[] = [];
  for (const def of controlPlaneCollections) {
    let continuation: string | undefined;
    do {
      const page = await root.documents.collection(def).query({ limit: 1000, continuation });
      out.push(...page.items.map((x) => `${def.name}/${x.doc.id}@${x.etag}`));
      continuation = page.continuation;
    } while (continuation);
  }
  return out.sort();
}

/** Asserts a problem+json reply of the given kind. */
export function expectProblem(r: Reply, status: number, kind: string): void {
  expect(r.status).toBe(status);
  expect(r.contentType).toBe('application/problem+json');
  expect(r.json).toMatchObject({ type: `https://haven.dev/problems/${kind}`, status });
  expect(typeof r.json.title).toBe('string');
  expect(typeof r.json.detail).toBe('string');
}

export const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

/** A one-time enrollment token for `site`, issued through the handler. */
export async function tokenFor(site: string): Promise<string> {
  const r = await call(createEnrollmentToken, {
    path: `sites/${site}/enrollment-tokens`,
    params: { id: site },
    body: {},
  });
  expect(r.status).toBe(201);
  return r.json.token;
}

export interface Enrolled {
  machineId: string;
  credential: string;
  dataKey: { keyId: string; key: string };
}

/** Enrolls a machine into `site` through the handlers (token, then enroll). */
export async function enrollInto(
  site: string,
  facts: { hostname?: string; disks?: DiskFacts[] } = {},
): Promise<Enrolled> {
  const r = await call(enroll, {
    path: 'enroll',
    body: { token: await tokenFor(site), hostname: 'h', os: 'linux', ...facts },
  });
  expect(r.status).toBe(201);
  return r.json;
}

/** POST machines/{id}/ingest-token with a (possibly wrong) machine credential. */
export const requestIngestToken = (machineId: string, credential: string) =>
  call(ingestToken, {
    path: `machines/${machineId}/ingest-token`,
    params: { id: machineId },
    headers: bearer(credential),
    body: {},
  });

/** An empty heartbeat of `machineId` with a (possibly wrong or dead) machine credential. */
export const heartbeatAs = (machineId: string, credential: string) =>
  call(heartbeat, {
    path: `machines/${machineId}/heartbeat`,
    params: { id: machineId },
    headers: bearer(credential),
    body: { agentVersion: '1', disks: [] },
  });

/** The two disks the enrollment tests enroll machines with. */
export const LAB_DISKS: DiskFacts[] = [
  { id: 'sda', sizeBytes: 8 * 1024 * 1024, logicalSectorSize: 512 },
  { id: 'sdb', sizeBytes: 1024 * 1024, logicalSectorSize: 4096 },
];

/** testRoot with the site `lab` created (the enrollment tests' control plane). */
export async function labRoot(clock?: () => number): Promise<Root> {
  const root = testRoot({}, clock);
  expect((await call(createSite, { path: 'sites', body: { name: 'lab' } })).status).toBe(201);
  return root;
}

/** The enrollment tests' lab: its root (set once beforeAll has run) and its helpers. */
export interface Lab {
  root: Root;
  /** Added to the root's clock; a test moves it to expire tokens and puts it back. */
  skew: number;
  newToken(): Promise<string>;
  enrolled(): Promise<Enrolled>;
}

/** Registers the file's beforeAll that builds the lab root (labRoot, clock skewed by `skew`). */
export function useLab(): Lab {
  const lab: Lab = {
    root: undefined as unknown as Root,
    skew: 0,
    newToken: () => tokenFor('lab'),
    enrolled: () => enrollInto('lab', { hostname: 'db1', disks: LAB_DISKS }),
  };
  beforeAll(async () => {
    lab.root = await labRoot(() => Date.now() + lab.skew);
  });
  return lab;
}
