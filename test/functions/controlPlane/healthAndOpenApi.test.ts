import { beforeAll, describe, expect, it } from 'vitest';
import { createSite } from '../../../functions/controlPlane/sites';
import { health } from '../../../functions/controlPlane/health';
import { openApi } from '../../../functions/controlPlane/openapi';
import { operationOf } from '../../../functions/controlPlane/api';
import { call, testRoot } from './support';

beforeAll(() => {
  testRoot();
});

describe('operations', () => {
  it('health reports each dependency with latency', async () => {
    const r = await call(health, { path: 'health' });
    const deps = Object.fromEntries(r.json.dependencies.map((d: { name: string }) => [d.name, d]));
    expect(deps.cosmos).toMatchObject({ status: 'ok' });
    expect(deps.storage).toMatchObject({ status: 'ok' });
    expect(typeof deps.cosmos.latencyMs).toBe('number');
    // The test config names an Event Hubs namespace that does not exist: reported, not thrown.
    expect(deps.eventHubs.status).toBe('failed');
    expect(r.status).toBe(503);
    expect(JSON.stringify(r.json)).not.toContain('SharedAccessKey');
  });

  it('health is 200 when everything answers, and reports a dead Cosmos', async () => {
    const ok = testRoot({ eventHubs: undefined });
    expect((await call(health, { path: 'health' })).status).toBe(200);
    testRoot({
      eventHubs: undefined,
      cosmos: { ...ok.config.cosmos, endpoint: 'http://127.0.0.1:9' },
    });
    const bad = await call(health, { path: 'health' });
    expect(bad.status).toBe(503);
    expect(bad.json.dependencies.find((d: { name: string }) => d.name === 'cosmos').status).toBe(
      'failed',
    );
    testRoot();
  });

  it('serves an OpenAPI 3.1 document generated from the zod schemas', async () => {
    const r = await call(openApi, { path: 'openapi.json' });
    expect(r.json.openapi).toBe('3.1.0');
    const paths = Object.keys(r.json.paths).sort();
    for (const p of [
      '/sites',
      '/sites/{id}',
      '/sites/{id}/enrollment-tokens',
      '/enroll',
      '/policies',
      '/policies/{name}',
      '/machines',
      '/machines/{id}',
      '/machines/{id}/heartbeat',
      '/machines/{id}/disks',
      '/machines/{id}/protect',
      '/machines/{id}/disable-protection',
      '/machines/{id}/ingest-token',
      '/jobs/{id}',
      '/health',
      '/openapi.json',
    ]) {
      expect(paths).toContain(p);
    }
    const enrollSchema =
      r.json.paths['/enroll'].post.requestBody.content['application/json'].schema;
    expect(enrollSchema.additionalProperties).toBe(false);
    expect(enrollSchema.required).toEqual(expect.arrayContaining(['token', 'hostname', 'os']));
    expect(r.json.paths['/sites'].post.security).toEqual([{ functionKey: [] }]);
    const site =
      r.json.paths['/sites/{id}'].get.responses['200'].content['application/json'].schema;
    expect(site.required).toEqual(expect.arrayContaining(['id', 'name', 'createdAt']));
    expect(r.json.paths['/health'].get.responses['503'].content['application/json']).toBeDefined();
    expect(
      r.json.paths['/enroll'].post.responses['400'].content['application/problem+json'],
    ).toBeDefined();
    // Every operation publishes its success shape, which `call` checks on every reply.
    for (const op of operationOf.values())
      if (op.name !== 'openApi') expect(op.response, op.name).toBeDefined();
    expect(operationOf.get(createSite)?.name).toBe('createSite');
    const disable = r.json.paths['/machines/{id}/disable-protection'].post;
    expect(disable.security).toEqual([{ functionKey: [] }]);
    expect(Object.keys(disable.responses)).toEqual(
      expect.arrayContaining(['200', '202', '404', '409']),
    );
    expect(disable.responses['409'].content['application/problem+json']).toBeDefined();
    expect(r.json.paths['/machines/{id}/heartbeat'].post.security).toEqual([
      { machineCredential: [] },
    ]);
  });
});
