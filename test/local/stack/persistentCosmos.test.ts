import { afterEach, describe, expect, it } from 'vitest';
import { CosmosClient } from '@azure/cosmos';
import { appendFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startPersistentCosmos,
  type PersistentCosmos,
} from '../../../local/stack/persistentCosmos';
import { waitFor } from '../../support/waitFor';

const running: PersistentCosmos[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

async function start(dir: string, compactAfterBytes?: number) {
  const c = await startPersistentCosmos({ dir, compactAfterBytes });
  running.push(c);
  return {
    c,
    client: new CosmosClient({
      endpoint: c.endpoint,
      key: c.key,
      connectionPolicy: { enableEndpointDiscovery: false },
    }),
  };
}

describe('persistent Cosmos emulator', () => {
  it('keeps every acknowledged write without a stop (as after a hard kill) and restores definitions and items', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosmos-'));
    const first = await start(dir);
    const { database } = await first.client.databases.createIfNotExists({ id: 'db' });
    const { container } = await database.containers.createIfNotExists({
      id: 'things',
      partitionKey: { paths: ['/pk'] },
      uniqueKeyPolicy: { uniqueKeys: [{ paths: ['/code'] }] },
    });
    for (let i = 0; i < 30; i++)
      await container.items.create({ id: `i${i}`, pk: `p${i % 3}`, code: `c${i}`, n: i });
    await container.item('i5', 'p2').delete();
    await container.item('i6', 'p0').replace({ id: 'i6', pk: 'p0', code: 'c6', n: 600 });
    // The first instance is never stopped and has taken no snapshot: the second starts on
    // what the first acknowledged, right after its last response.
    expect(existsSync(join(dir, 'snapshot.json'))).toBe(false);
    // The line being written when the process died is torn: it is skipped.
    appendFileSync(
      join(
        dir,
        readdirSync(dir).find((f) => f.endsWith('.jsonl'))!,
      ),
      '{"op":"doc","d',
    );

    const second = await start(dir);
    const c2 = second.client.database('db').container('things');
    const { resources } = await c2.items
      .query<{ id: string; n: number }>('SELECT c.id, c.n FROM c WHERE c.pk = "p0" ORDER BY c.n')
      .fetchAll();
    expect(resources.map((r) => r.id)).toEqual([
      'i0',
      'i3',
      'i9',
      'i12',
      'i15',
      'i18',
      'i21',
      'i24',
      'i27',
      'i6',
    ]);
    expect((await c2.item('i5', 'p2').read()).statusCode).toBe(404);
    const { resource: def } = await c2.read();
    expect(def?.partitionKey?.paths).toEqual(['/pk']);
    await expect(c2.items.create({ id: 'dup', pk: 'p1', code: 'c1' })).rejects.toMatchObject({
      code: 409,
    });
  });

  it('takes a snapshot as the log grows, drops the log it covers, and restores snapshot + later log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cosmos-'));
    const first = await start(dir, 4096);
    const { database } = await first.client.databases.createIfNotExists({ id: 'db' });
    const { container } = await database.containers.createIfNotExists({
      id: 'things',
      partitionKey: { paths: ['/pk'] },
    });
    const logs = () => readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    for (let i = 0; i < 60; i++)
      await container.items.upsert({ id: `i${i % 20}`, pk: 'p', n: i, pad: 'x'.repeat(200) });
    await waitFor('a snapshot', () => existsSync(join(dir, 'snapshot.json')));
    await waitFor('the covered logs dropped', () => logs().length <= 2);
    await container.item('i3', 'p').delete();
    await container.items.upsert({ id: 'late', pk: 'p', n: -1 });

    const second = await start(dir);
    const c2 = second.client.database('db').container('things');
    const { resources } = await c2.items
      .query<{ id: string; n: number }>('SELECT c.id, c.n FROM c')
      .fetchAll();
    const byId = new Map(resources.map((r) => [r.id, r.n]));
    expect(byId.size).toBe(20);
    expect(byId.get('i3')).toBeUndefined();
    expect(byId.get('late')).toBe(-1);
    for (let k = 0; k < 20; k++) if (k !== 3) expect(byId.get(`i${k}`)).toBe(40 + k);
  });

  it('keeps nothing without a directory', async () => {
    const c = await startPersistentCosmos();
    running.push(c);
    const client = new CosmosClient({
      endpoint: c.endpoint,
      key: c.key,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    await client.databases.createIfNotExists({ id: 'gone' });
    await c.flush();
    const other = await startPersistentCosmos();
    running.push(other);
    const client2 = new CosmosClient({
      endpoint: other.endpoint,
      key: other.key,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    expect((await client2.databases.readAll().fetchAll()).resources).toEqual([]);
  });
});
