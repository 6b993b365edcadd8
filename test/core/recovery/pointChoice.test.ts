import { describe, expect, it } from 'vitest';
import {
  choosePoint,
  parsePointChoice,
  type CandidatePoint,
} from '../../../core/recovery/pointChoice';

const p = (id: string, extra: Partial<CandidatePoint> = {}): CandidatePoint => ({
  id,
  machineId: 'm1',
  time: `2026-01-01T00:00:${id.slice(1).padStart(2, '0')}Z`,
  consistency: 'crash',
  ...extra,
});
// newest first
const points = [
  p('p10', { materialized: false }),
  p('p9'),
  p('p8', { consistency: 'app' }),
  p('p7', { groupId: 'g1', barrier: true }),
  p('p6', { groupId: 'g1', barrier: false }),
  p('p5', { groupId: 'g1', barrier: true }),
];
const ctx = { machineId: 'm1', groupId: 'g1', completeGroupPoints: new Set(['p5', 'p6']) };

describe('point choice', () => {
  it('latest takes the newest durable point, latest-processed the newest materialized one', () => {
    // latest: the newest durable point (it is materialized before use); processed: lowest RTO.
    expect(choosePoint(points, 'latest', ctx).id).toBe('p10');
    expect(choosePoint(points, 'latest-processed', ctx).id).toBe('p9');
    expect(choosePoint(points, 'latest-app-consistent', ctx).id).toBe('p8');
  });

  it('latest-group is the newest complete group point with a barrier', () => {
    // p7 is a barrier but not complete, p6 complete but no barrier.
    expect(choosePoint(points, 'latest-group', ctx).id).toBe('p5');
    expect(() => choosePoint(points, 'latest-group', { machineId: 'm1' })).toThrowError(
      expect.objectContaining({ kind: 'conflict' }),
    );
  });

  it('a point id must be a point of this machine', () => {
    expect(choosePoint(points, { id: 'p6' }, ctx).id).toBe('p6');
    expect(() => choosePoint(points, { id: 'nope' }, ctx)).toThrowError(
      expect.objectContaining({ kind: 'not-found' }),
    );
    const foreign = [p('q1', { machineId: 'm2' })];
    expect(() => choosePoint(foreign, { id: 'q1' }, ctx)).toThrowError(
      expect.objectContaining({ kind: 'not-found' }),
    );
  });

  it('refuses when nothing fits', () => {
    expect(() => choosePoint([], 'latest', ctx)).toThrowError(
      expect.objectContaining({ kind: 'conflict' }),
    );
    expect(() => choosePoint([p('p1')], 'latest-app-consistent', ctx)).toThrowError(
      expect.objectContaining({ kind: 'conflict' }),
    );
  });

  it('parses choices', () => {
    expect(parsePointChoice(undefined, 'latest')).toBe('latest');
    expect(parsePointChoice('latest-group', 'latest')).toBe('latest-group');
    expect(parsePointChoice('bm-123', 'latest')).toEqual({ id: 'bm-123' });
  });
});
