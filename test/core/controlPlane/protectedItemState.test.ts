import { describe, expect, it } from 'vitest';
import {
  allowedTransitions,
  assertTransition,
  canTransition,
  protectedItemStates,
  replicatingToAzure,
  type ProtectedItemState,
} from '../../../core/controlPlane/protectedItemState';

describe('protected-item state machine', () => {
  it('follows the design path enable → protect → failover → commit → reprotect → failback → re-enable', () => {
    const path: ProtectedItemState[] = [
      'enabling',
      'initial-sync',
      'protected',
      'failing-over',
      'failed-over',
      'committed',
      'reprotecting',
      'reprotected',
      'failing-back',
      'failed-back',
      'enabling',
    ];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('covers stalls, resyncs, compensation and disabling', () => {
    expect(canTransition('initial-sync', 'initial-sync-stalled')).toBe(true);
    expect(canTransition('initial-sync-stalled', 'initial-sync')).toBe(true);
    expect(canTransition('protected', 'initial-sync')).toBe(true);
    expect(canTransition('failing-over', 'protected')).toBe(true);
    // change recovery point, and cancel failover (back to protected, replication continues)
    expect(canTransition('failed-over', 'failing-over')).toBe(true);
    expect(canTransition('failed-over', 'protected')).toBe(true);
    expect(replicatingToAzure.has('failed-over')).toBe(true);
    expect(replicatingToAzure.has('committed')).toBe(false);
    expect(canTransition('failing-back', 'reprotected')).toBe(true);
    expect(canTransition('disabling', 'disabled')).toBe(true);
    expect(canTransition('disabled', 'enabling')).toBe(true);
  });

  it('refuses unsafe jumps with a conflict naming the allowed targets', () => {
    const forbidden: [ProtectedItemState, ProtectedItemState][] = [
      ['enabling', 'protected'], // no protection without initial sync
      ['initial-sync', 'failing-over'], // nothing to fail over to yet
      ['protected', 'committed'], // commit only after failover (invariant 6)
      ['failing-over', 'failing-over'], // failover never starts twice
      ['failed-over', 'disabling'], // running in Azure: commit first
      ['disabled', 'protected'],
      ['committed', 'failing-back'], // reprotect first
    ];
    for (const [from, to] of forbidden) {
      expect(canTransition(from, to)).toBe(false);
      expect(() => assertTransition(from, to)).toThrowError(
        expect.objectContaining({
          kind: 'conflict',
          details: expect.objectContaining({ from, to }),
        }),
      );
    }
  });

  it('every state has a way out and every target is a known state', () => {
    for (const s of protectedItemStates) {
      expect(allowedTransitions(s).length).toBeGreaterThan(0);
      for (const t of allowedTransitions(s)) expect(protectedItemStates).toContain(t);
      expect(canTransition(s, s)).toBe(false);
    }
    // Every state is reachable from enabling.
    const seen = new Set<ProtectedItemState>(['enabling']);
    const todo: ProtectedItemState[] = ['enabling'];
    while (todo.length) {
      for (const t of allowedTransitions(todo.pop()!)) {
        if (!seen.has(t)) {
          seen.add(t);
          todo.push(t);
        }
      }
    }
    expect([...seen].sort()).toEqual([...protectedItemStates].sort());
  });
});
