import { describe, expect, it } from 'vitest';
import { drillReport } from '../../../core/plans/drillReport';
import { checkDrillSchedule, drillDue, nextDrillAt } from '../../../core/plans/drillSchedule';
import {
  mergeSecrets,
  redactGroups,
  redactUrl,
  webhookTarget,
  REDACTED,
} from '../../../core/plans/planSecrets';
import { planBody } from '../../../core/plans/planSchema';
import type { MachineOutcome } from '../../../core/plans/planOutcome';

describe('webhook secrets', () => {
  const groups = planBody.parse({
    groups: [
      {
        id: 1,
        machines: ['a'],
        pre: [
          {
            name: 'hook',
            kind: 'webhook',
            url: 'https://u:p@fn.example/api/run?code=SECRET&x=1',
            headers: { 'x-api-key': 'K3Y' },
          },
        ],
      },
    ],
  }).groups;

  it('views show the host and path, never keys or header values', () => {
    const red = JSON.stringify(redactGroups(groups));
    expect(red).not.toMatch(/SECRET|K3Y|u:p@/);
    expect(redactUrl('https://fn.example/api/run?code=SECRET')).toBe(
      `https://fn.example/api/run?code=${REDACTED}`,
    );
    expect(webhookTarget('https://fn.example/api/run?code=SECRET')).toBe('fn.example/api/run');
  });

  it('a PUT of the redacted view keeps the stored secrets; a new value replaces them', () => {
    const back = mergeSecrets(redactGroups(groups), groups);
    expect(back).toEqual(groups);
    const changed = redactGroups(groups);
    const hook = changed[0]!.pre[0]!;
    if (hook.kind !== 'webhook') throw new Error('webhook expected');
    hook.headers['x-api-key'] = 'NEW';
    const merged = mergeSecrets(changed, groups)[0]!.pre[0]!;
    expect(merged).toMatchObject({
      headers: { 'x-api-key': 'NEW' },
      url: 'https://u:p@fn.example/api/run?code=SECRET&x=1',
    });
  });
});

describe('drill report', () => {
  const start = '2026-12-01T03:00:00.000Z';
  const m = (id: string, o: Partial<MachineOutcome> = {}): MachineOutcome => ({
    machineId: id,
    group: 1,
    state: 'succeeded',
    startedAt: '2026-12-01T03:00:01.000Z',
    pointId: `p-${id}`,
    pointTime: '2026-12-01T02:59:55.000Z',
    vm: { id: `vm-${id}`, readyAt: '2026-12-01T03:00:09.000Z' },
    ...o,
  });
  it('per machine boot, RTO and RPO; the plan RTO is the last healthy machine', () => {
    const r = drillReport({
      startedAt: start,
      endedAt: '2026-12-01T03:01:00.000Z',
      machines: [
        m('a'),
        m('b', {
          pointTime: '2026-12-01T02:59:50.000Z',
          vm: { id: 'vm-b', readyAt: '2026-12-01T03:00:20.500Z' },
        }),
      ],
      health: {
        a: { ok: true, at: '2026-12-01T03:00:10.000Z' },
        b: { ok: true, at: '2026-12-01T03:00:20.500Z' },
      },
      leftovers: [],
    });
    expect(r.machines[0]).toMatchObject({
      bootSeconds: 8,
      rtoSeconds: 9,
      rpoSeconds: 5,
      health: 'ok',
    });
    expect(r).toMatchObject({
      state: 'succeeded',
      rtoSeconds: 20.5,
      rpoSeconds: 10,
      leftovers: [],
    });
  });
  it('an unhealthy machine or a leftover is not a succeeded drill; no plan RTO without every machine', () => {
    const r = drillReport({
      startedAt: start,
      endedAt: start,
      machines: [m('a'), m('b', { state: 'failed', error: 'VM create failed', vm: undefined })],
      health: { a: { ok: true, at: '2026-12-01T03:00:10.000Z' } },
      leftovers: ['virtualMachines/x'],
    });
    expect(r.state).toBe('partially-succeeded');
    expect(r.rtoSeconds).toBeUndefined();
    expect(r.machines[1]).toMatchObject({ health: 'failed', error: 'VM create failed' });
    const clean = drillReport({
      startedAt: start,
      endedAt: start,
      machines: [m('a')],
      health: {},
      leftovers: ['disks/d'],
    });
    expect(clean.machines[0]!.health).toBe('not-checked');
    expect(clean.state).toBe('failed');
  });
});

describe('drill schedule', () => {
  const now = Date.parse('2026-12-01T10:20:00Z');
  it('NCRONTAB (seconds first) and five-field cron, UTC', () => {
    expect(new Date(nextDrillAt('0 0 3 * * 0', now)).toISOString()).toBe(
      '2026-12-06T03:00:00.000Z',
    );
    expect(new Date(nextDrillAt('30 4 * * *', now)).toISOString()).toBe('2026-12-02T04:30:00.000Z');
  });
  it('refuses bad expressions and more than one drill an hour', () => {
    expect(() => checkDrillSchedule('every sunday', now)).toThrow(/cron/);
    expect(() => checkDrillSchedule('0 */5 * * * *', now)).toThrow(/once an hour/);
    expect(() => checkDrillSchedule('0 0 * * * *', now)).not.toThrow();
  });
  it('due once its time has come; never when not scheduled', () => {
    expect(drillDue('2026-12-01T10:19:59Z', now)).toBe(true);
    expect(drillDue('2026-12-01T10:20:01Z', now)).toBe(false);
    expect(drillDue(undefined, now)).toBe(false);
  });
});
