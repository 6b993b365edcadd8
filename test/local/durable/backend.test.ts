import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedStack } from '../../support/stack';
import {
  getStatus,
  startDurableHost,
  startOrchestration,
  waitFor,
  type DurableHost,
} from './support';

let h: DurableHost;
beforeAll(async () => {
  h = await startDurableHost(sharedStack().storageConnection, {
    driver: { activityTimeoutMs: 400, maxConcurrentActivities: 3 },
  });
});
afterAll(async () => h?.stop());

describe('durable backend through the real host and Azurite', () => {
  it('runs activities in sequence, with custom status and history', async () => {
    const id = await startOrchestration(h, 'Sequence');
    const s = await waitFor(
      h,
      id,
      undefined,
      undefined,
      '&showHistory=true&showHistoryOutput=true',
    );
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toEqual(['Hello Tokyo', 'Hello Seattle', 'Hello London']);
    expect(s.customStatus).toEqual({ step: 2 });
    const types = s.historyEvents!.map((e) => e.EventType);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.filter((t) => t === 'TaskScheduled')).toHaveLength(3);
    expect(types.filter((t) => t === 'TaskCompleted')).toHaveLength(3);
    expect(types.at(-1)).toBe('ExecutionCompleted');
  });

  it('fans out with Task.all', async () => {
    const id = await startOrchestration(h, 'FanOut', 30);
    const s = await waitFor(h, id);
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toBe((29 * 30) / 2);
  });

  it('fans out more than one transaction can hold (episode written in several transactions)', async () => {
    const id = await startOrchestration(h, 'FanOut', 150);
    const s = await waitFor(h, id, undefined, 60_000);
    expect(s.output).toBe((149 * 150) / 2);
  });

  it('retries an activity by its retry policy, and gives up after maxNumberOfAttempts', async () => {
    const ok = await startOrchestration(h, 'Retry', { key: 'r1', failTimes: 2, attempts: 3 });
    const gaveUp = await startOrchestration(h, 'Retry', { key: 'r2', failTimes: 5, attempts: 2 });
    expect((await waitFor(h, ok)).output).toBe('ok after 3');
    const s = await waitFor(h, gaveUp, undefined, undefined, '&showHistory=true');
    expect(s.output).toMatch(/^gave up: .*flaky r2 attempt 2/);
    expect(s.historyEvents!.filter((e) => e.EventType === 'TaskFailed')).toHaveLength(2);
  });

  it('surfaces activity failures to the orchestrator, and fails an instance that does not catch', async () => {
    const caught = await startOrchestration(h, 'CatchBoom');
    expect((await waitFor(h, caught)).output).toMatch(/^caught: .*boom/);
    const failed = await startOrchestration(h, 'Uncaught');
    const s = await waitFor(h, failed);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(/Orchestrator function 'Uncaught' failed: .*boom/);
    expect((await getStatus(h, failed)).status).toBe(400);
  });

  it('fires durable timers with a deterministic clock', async () => {
    const id = await startOrchestration(h, 'Timer');
    const s = await waitFor(h, id);
    const out = s.output as { waitedMs: number; guid: string };
    expect(out.waitedMs).toBeGreaterThanOrEqual(300);
    expect(out.guid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('delivers external events, including ones raised before the orchestrator waits', async () => {
    const approval = await startOrchestration(h, 'Approval', { timeoutMs: 60_000 });
    await waitFor(h, approval, ['Running']);
    const r = await fetch(`${h.webhooks}/instances/${approval}/raiseEvent/Approve?code=${h.code}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'ops' }),
    });
    expect(r.status).toBe(202);
    expect((await waitFor(h, approval)).output).toEqual({ approved: { by: 'ops' } });

    const timedOut = await startOrchestration(h, 'Approval', { timeoutMs: 200 });
    expect((await waitFor(h, timedOut)).output).toEqual({ approved: false, timedOut: true });

    const two = await startOrchestration(h, 'TwoEvents');
    // B first: it is buffered until the orchestrator waits for it.
    for (const [name, data] of [
      ['B', 2],
      ['A', 1],
    ] as const) {
      const res = await fetch(`${h.webhooks}/instances/${two}/raiseEvent/${name}?code=${h.code}`, {
        method: 'POST',
        body: JSON.stringify(data),
      });
      expect(res.status).toBe(202);
    }
    expect((await waitFor(h, two)).output).toEqual([1, 2]);
  });

  it('runs sub-orchestrations (generated and explicit ids, failures)', async () => {
    const id = await startOrchestration(h, 'Parent');
    const s = await waitFor(h, id);
    expect(s.runtimeStatus).toBe('Completed');
    expect(s.output).toEqual({
      a: ['Hello Tokyo', 'Hello Seattle', 'Hello London'],
      b: 6,
      failed: true,
    });
    expect((await getStatus(h, `${id}-child`)).body.runtimeStatus).toBe('Completed');
  });

  it('continues as new with a fresh history', async () => {
    const id = await startOrchestration(h, 'Counter', 0);
    const s = await waitFor(h, id, undefined, undefined, '&showHistory=true');
    expect(s.output).toBe(3);
    expect(s.input).toBe(3);
    expect(s.historyEvents!.filter((e) => e.EventType === 'TaskScheduled')).toHaveLength(0);
  });

  it('fails an activity that exceeds the activity timeout', async () => {
    const id = await startOrchestration(h, 'SlowCall', 2000);
    expect((await waitFor(h, id)).output).toMatch(/^failed: .*timed out after 400 ms/);
  });

  it('detects non-deterministic replay and fails the instance', async () => {
    const id = await startOrchestration(h, 'Changing');
    await waitFor(h, id, ['Running']);
    // Let the first activity complete, then change the orchestrator's behaviour and wake it.
    const flip = await startOrchestration(h, 'Steps', { prefix: 'noop', steps: 0 });
    await waitFor(h, flip);
    await new Promise((r) => setTimeout(r, 200));
    (globalThis as { __durableFlip?: boolean }).__durableFlip = true;
    await fetch(`${h.webhooks}/instances/${id}/raiseEvent/Go?code=${h.code}`, {
      method: 'POST',
      body: '1',
    });
    const s = await waitFor(h, id);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(
      /Non-deterministic workflow detected: action #0 was 'CallActivity:Hello'.*'CallActivity:Echo'/,
    );
  });

  it('terminates a running instance (202, then 410) and purges it (200, then 404)', async () => {
    const id = await startOrchestration(h, 'TwoEvents');
    await waitFor(h, id, ['Running']);
    const t1 = await fetch(`${h.webhooks}/instances/${id}/terminate?reason=stop&code=${h.code}`, {
      method: 'POST',
    });
    expect(t1.status).toBe(202);
    const s = await waitFor(h, id);
    expect(s.runtimeStatus).toBe('Terminated');
    expect(s.output).toBe('stop');
    const t2 = await fetch(`${h.webhooks}/instances/${id}/terminate?reason=again&code=${h.code}`, {
      method: 'POST',
    });
    expect(t2.status).toBe(410);
    const raise = await fetch(`${h.webhooks}/instances/${id}/raiseEvent/A?code=${h.code}`, {
      method: 'POST',
      body: '1',
    });
    expect(raise.status).toBe(410);
    const p1 = await fetch(`${h.webhooks}/instances/${id}?code=${h.code}`, { method: 'DELETE' });
    expect(p1.status).toBe(200);
    expect(await p1.json()).toEqual({ instancesDeleted: 1 });
    expect(
      (await fetch(`${h.webhooks}/instances/${id}?code=${h.code}`, { method: 'DELETE' })).status,
    ).toBe(404);
    expect((await getStatus(h, id)).status).toBe(404);
  });

  it('keeps activity concurrency within the configured limit', async () => {
    const id = await startOrchestration(h, 'TrackFan', 12);
    const s = await waitFor(h, id);
    expect(s.output).toBeGreaterThanOrEqual(2);
    expect(s.output).toBeLessThanOrEqual(3);
  });

  it('moves large inputs, results and outputs through blobs', async () => {
    const big = 'x'.repeat(300_000);
    const id = await startOrchestration(h, 'Big', big);
    const s = await waitFor(h, id, undefined, undefined, '&showInput=true');
    expect(s.output).toEqual({ length: 300_000, same: true });
    expect(s.input).toBe(big);
    const blobs = [];
    for await (const b of h.driver.backend!.store.container.listBlobsFlat({ prefix: `${id}/` }))
      blobs.push(b.name);
    expect(blobs.length).toBeGreaterThanOrEqual(4); // input, history, work item, result, output
  });

  it('rejects webhook calls without the system key, and unknown orchestrators', async () => {
    expect((await fetch(`${h.webhooks}/instances/x`)).status).toBe(401);
    const res = await fetch(`${h.webhooks}/orchestrators/NoSuchThing?code=${h.code}`, {
      method: 'POST',
    });
    expect(res.status).toBe(400);
  });
});
