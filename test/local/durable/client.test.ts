import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedStack } from '../../support/stack';
import { startDurableHost, waitFor, type DurableHost } from './support';

let h: DurableHost;
beforeAll(async () => {
  h = await startDurableHost(sharedStack().storageConnection);
});
afterAll(async () => h?.stop());

const fn = (path: string, init?: RequestInit) =>
  fetch(`${h.host.baseUrl}/api/durable/${path}`, init);
const op = async (name: string, id: string, body?: unknown) => {
  const res = await fn(`ops/${name}/${id}`, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
};

describe('the real df.getClient inside an HTTP function, against the local durable API', () => {
  it('startNew + createCheckStatusResponse: 202, Location and working management URLs', async () => {
    const res = await fn('start/Sequence/seq-client-1', { method: 'POST' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as Record<string, string>;
    expect(body.id).toBe('seq-client-1');
    expect(res.headers.get('location')).toBe(body.statusQueryGetUri);
    expect(body.statusQueryGetUri).toMatch(
      new RegExp(
        `^${h.host.baseUrl}/runtime/webhooks/durabletask/instances/seq-client-1\\?taskHub=${h.hub}&connection=Storage&code=`,
      ),
    );
    await waitFor(h, 'seq-client-1');
    const status = await fetch(body.statusQueryGetUri!);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      name: 'Sequence',
      instanceId: 'seq-client-1',
      runtimeStatus: 'Completed',
      output: ['Hello Tokyo', 'Hello Seattle', 'Hello London'],
    });
    const purge = await fetch(body.purgeHistoryDeleteUri!, { method: 'DELETE' });
    expect(purge.status).toBe(200);
    expect((await fetch(body.statusQueryGetUri!)).status).toBe(404);
  });

  it('getStatus with history, raiseEvent, terminate, purge, getStatusBy, waitForCompletion', async () => {
    expect((await fn('start/TwoEvents/two-client', { method: 'POST' })).status).toBe(202);
    await waitFor(h, 'two-client', ['Running']);
    expect((await op('raise', 'two-client', { name: 'A', data: { a: 1 } })).status).toBe(202);
    expect((await op('raise', 'two-client', { name: 'B', data: 'b' })).status).toBe(202);
    const done = await op('wait', 'two-client');
    expect(done.status).toBe(200);
    expect(done.json).toEqual([{ a: 1 }, 'b']);
    const st = await op('status', 'two-client');
    expect(st.json).toMatchObject({
      name: 'TwoEvents',
      runtimeStatus: 'Completed',
      output: [{ a: 1 }, 'b'],
    });
    expect(st.json.history.map((e: { EventType: string }) => e.EventType)).toEqual([
      'ExecutionStarted',
      'EventRaised',
      'EventRaised',
      'ExecutionCompleted',
    ]);

    expect((await fn('start/TwoEvents/two-term', { method: 'POST' })).status).toBe(202);
    await waitFor(h, 'two-term', ['Running']);
    expect((await op('terminate', 'two-term')).status).toBe(202);
    expect((await waitFor(h, 'two-term')).runtimeStatus).toBe('Terminated');
    // Terminating again is a 410 for the API, which the client treats as success.
    expect((await op('terminate', 'two-term')).status).toBe(202);
    // raiseEvent on an unknown instance: the client rejects ("No instance ... found").
    expect((await op('raise', 'nope', { name: 'A', data: 1 })).status).toBe(500);

    const list = await op('list', 'x');
    expect(list.json.map((s: { instanceId: string }) => s.instanceId)).toContain('two-client');
    expect(list.json.every((s: { runtimeStatus: string }) => s.runtimeStatus === 'Completed')).toBe(
      true,
    );

    expect((await op('purge', 'two-term')).json).toEqual({ instancesDeleted: 1 });
    expect((await op('purge', 'two-term')).json).toMatchObject({ instancesDeleted: 0 });

    const payload = await op('payload', 'abc');
    expect(payload.json.statusQueryGetUri).toContain(
      '/runtime/webhooks/durabletask/instances/abc?',
    );
  });

  it('starting an instance id that is running is refused (409), a completed one restarts', async () => {
    const start = (id: string) =>
      fetch(`${h.webhooks}/orchestrators/TwoEvents/${id}?code=${h.code}`, { method: 'POST' });
    expect((await start('dup-1')).status).toBe(202);
    expect((await start('dup-1')).status).toBe(409);
    await fetch(`${h.webhooks}/instances/dup-1/terminate?reason=x&code=${h.code}`, {
      method: 'POST',
    });
    await waitFor(h, 'dup-1');
    expect((await start('dup-1')).status).toBe(202);
    await waitFor(h, 'dup-1', ['Running']);
  });

  it('lists with filters and paging (x-ms-continuation-token), purges by filter', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${h.webhooks}/orchestrators/Sequence/page-${i}?code=${h.code}`, {
        method: 'POST',
      });
      expect(res.status).toBe(202);
      await waitFor(h, `page-${i}`);
    }
    const first = await fetch(
      `${h.webhooks}/instances?instanceIdPrefix=page-&top=2&code=${h.code}`,
    );
    const token = first.headers.get('x-ms-continuation-token');
    expect(((await first.json()) as unknown[]).length).toBe(2);
    expect(token).toBeTruthy();
    const second = await fetch(
      `${h.webhooks}/instances?instanceIdPrefix=page-&top=2&code=${h.code}`,
      {
        headers: { 'x-ms-continuation-token': token! },
      },
    );
    expect(((await second.json()) as unknown[]).length).toBe(1);
    const purge = await fetch(
      `${h.webhooks}/instances?instanceIdPrefix=page-&runtimeStatus=Completed&code=${h.code}`,
      { method: 'DELETE' },
    );
    expect(await purge.json()).toEqual({ instancesDeleted: 3 });
    const again = await fetch(
      `${h.webhooks}/instances?instanceIdPrefix=page-&runtimeStatus=Completed&code=${h.code}`,
      { method: 'DELETE' },
    );
    expect(again.status).toBe(404);
  });
});
