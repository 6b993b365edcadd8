import { describe, expect, it } from 'vitest';
import { createPlanBody, planBody } from '../../../core/plans/planSchema';
import { BoundedQueue, groupsToRun, planMachines } from '../../../core/plans/planRun';
import {
  planAllowedActions,
  planJobState,
  machinesToRestart,
  type MachineOutcome,
} from '../../../core/plans/planOutcome';
import { planPointChoices } from '../../../core/plans/planPoints';
import { HavenError } from '../../../core/errors';

const webhook = (name: string, operations?: string[]) => ({
  name,
  kind: 'webhook',
  url: 'https://hooks.example/run?code=k',
  ...(operations ? { operations } : {}),
});

describe('plan model and validation', () => {
  it('fills defaults: point latest, fan-out 10, actions for every operation type, failover direction', () => {
    const p = createPlanBody.parse({
      name: 'erp',
      groups: [{ id: 1, machines: ['m-db'], pre: [webhook('notify')] }],
    });
    expect(p).toMatchObject({ pointChoice: 'latest', maxParallel: 10 });
    expect(p.groups[0]!.pre[0]).toMatchObject({
      operations: ['test', 'planned', 'unplanned'],
      direction: 'failover',
      method: 'POST',
      retries: 3,
      expectedStatus: [200, 201, 202, 204],
    });
    expect(p.groups[0]!.post).toEqual([]);
  });

  it.each([
    [
      'a machine twice in a plan',
      [
        { id: 1, machines: ['a'] },
        { id: 2, machines: ['a'] },
      ],
    ],
    [
      'a group id twice',
      [
        { id: 1, machines: ['a'] },
        { id: 1, machines: ['b'] },
      ],
    ],
    [
      'an action name twice',
      [
        { id: 1, machines: ['a'], pre: [webhook('x')] },
        { id: 2, machines: ['b'], post: [{ name: 'x', kind: 'wait', seconds: 5 }] },
      ],
    ],
    ['an empty group', [{ id: 1, machines: [] }]],
    ['an unknown action kind', [{ id: 1, machines: ['a'], pre: [{ name: 'x', kind: 'runbook' }] }]],
    [
      'a webhook that is not http(s)',
      [{ id: 1, machines: ['a'], pre: [{ name: 'x', kind: 'webhook', url: 'ftp://x/y' }] }],
    ],
    ['no groups', []],
  ])('refuses %s', (_what, groups) => {
    expect(planBody.safeParse({ groups }).success).toBe(false);
  });

  it('a machine may be in several plans (each plan validates alone)', () => {
    expect(planBody.safeParse({ groups: [{ id: 1, machines: ['a'] }] }).success).toBe(true);
    expect(planBody.safeParse({ groups: [{ id: 7, machines: ['a', 'b'] }] }).success).toBe(true);
  });
});

describe('group order, action scope, bounded fan-out', () => {
  const plan = planBody.parse({
    groups: [
      {
        id: 3,
        machines: ['lb'],
        pre: [{ name: 'approve', kind: 'manual', operations: ['unplanned', 'planned'] }],
      },
      { id: 1, machines: ['db1', 'db2'], post: [{ name: 'db-health', kind: 'health' }] },
      {
        id: 2,
        machines: ['app'],
        pre: [webhook('test-only', ['test'])],
        post: [{ name: 'settle', kind: 'wait', seconds: 10, direction: 'failback' }],
      },
    ],
  }).groups;

  it('groups run in ascending id order with the actions of this operation type and direction', () => {
    const test = groupsToRun(plan, 'test-failover', false);
    expect(test.map((g) => g.id)).toEqual([1, 2, 3]);
    expect(test.map((g) => [g.pre.map((a) => a.name), g.post.map((a) => a.name)])).toEqual([
      [[], ['db-health']],
      [['test-only'], []],
      [[], []],
    ]);
    const unplanned = groupsToRun(plan, 'failover', false);
    expect(unplanned[2]!.pre.map((a) => a.name)).toEqual(['approve']);
    expect(unplanned[1]!.pre).toEqual([]);
    // Cleanup, commit, cancel run no actions.
    expect(groupsToRun(plan, 'commit', false).flatMap((g) => [...g.pre, ...g.post])).toEqual([]);
    expect(planMachines(plan)).toEqual(['db1', 'db2', 'app', 'lb']);
  });

  it('a restart keeps only the named machines and their groups', () => {
    const r = groupsToRun(plan, 'failover', false, ['db2', 'lb']);
    expect(r.map((g) => [g.id, g.machines])).toEqual([
      [1, ['db2']],
      [3, ['lb']],
    ]);
  });

  it('never more than the limit in flight, in order', () => {
    const q = new BoundedQueue(['a', 'b', 'c', 'd', 'e'], 2);
    expect(q.take()).toEqual(['a', 'b']);
    expect(q.take()).toEqual([]);
    q.done();
    expect(q.take()).toEqual(['c']);
    expect(q.inFlight).toBe(2);
    q.done();
    q.done();
    expect(q.take()).toEqual(['d', 'e']);
    expect(q.drain()).toEqual([]);
    q.done();
    q.done();
    expect(q.finished).toBe(true);
    const c = new BoundedQueue([1, 2, 3], 1);
    c.take();
    expect(c.drain()).toEqual([2, 3]);
    expect(() => new BoundedQueue([], 0)).toThrow();
  });
});

describe('plan outcome', () => {
  const m = (state: MachineOutcome['state'], id: string = state): MachineOutcome => ({
    machineId: id,
    group: 1,
    state,
  });
  it.each<[string, MachineOutcome[], boolean, string]>([
    ['all succeeded', [m('succeeded', 'a'), m('succeeded', 'b')], false, 'succeeded'],
    ['one failed', [m('succeeded'), m('failed')], false, 'partially-succeeded'],
    ['one skipped after a failure', [m('succeeded'), m('skipped')], false, 'partially-succeeded'],
    ['all failed', [m('failed', 'a'), m('failed', 'b')], false, 'failed'],
    ['all succeeded but an action failed', [m('succeeded')], true, 'partially-succeeded'],
  ])('%s → %s', (_w, machines, actionFailed, state) => {
    const actions = actionFailed
      ? [
          {
            group: 1,
            phase: 'post' as const,
            name: 'h',
            kind: 'health' as const,
            state: 'failed' as const,
          },
        ]
      : [];
    expect(planJobState(machines, actions)).toBe(state);
  });

  it('restart runs the machines that did not succeed; allowed actions follow the state', () => {
    const ms = [m('succeeded', 'a'), m('failed', 'b'), m('skipped', 'c')];
    expect(machinesToRestart(ms)).toEqual(['b', 'c']);
    expect(planAllowedActions('partially-succeeded', ms)).toEqual(['restart']);
    expect(planAllowedActions('succeeded', [m('succeeded')])).toEqual([]);
    expect(planAllowedActions('waiting-for-manual-action', ms)).toEqual(['resume', 'cancel']);
    expect(planAllowedActions('running', ms)).toEqual(['cancel']);
    expect(planJobState(ms, [], true)).toBe('cancelled');
  });
});

describe('plan point choice', () => {
  const cuts = {
    erp: [
      { id: 'g3', time: 't3', complete: false, barrier: false },
      { id: 'g2', time: 't2', complete: true, barrier: false },
      { id: 'g1', time: 't1', complete: true, barrier: true },
    ],
  };
  it('latest-group: the newest complete cut where every member held, for every member; others latest', () => {
    const r = planPointChoices(
      ['db', 'app', 'lb'],
      'latest-group',
      { db: 'erp', app: 'erp' },
      cuts,
    );
    expect(r.byMachine).toEqual({ db: 'g1', app: 'g1', lb: 'latest' });
    expect(r.groupPoints).toEqual({ erp: { id: 'g1', time: 't1' } });
    expect(Object.keys(r.notes)).toEqual(['lb']);
  });
  it('a group without such a cut refuses the whole operation', () => {
    expect(() =>
      planPointChoices(['db'], 'latest-group', { db: 'erp' }, { erp: cuts.erp.slice(0, 2) }),
    ).toThrow(HavenError);
  });
  it('other choices pass through', () => {
    expect(planPointChoices(['a', 'b'], 'latest-processed', {}, {}).byMachine).toEqual({
      a: 'latest-processed',
      b: 'latest-processed',
    });
  });
});
