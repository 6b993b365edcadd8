import { ID_PATTERN } from '../../core/batch';

/** Longest control line accepted: a bookmark request is a few hundred bytes. */
export const MAX_CONTROL_LINE = 4096;

export type ControlMessage =
  | { op: 'bookmark'; id: string; groupId?: string; consistency: 'crash' | 'app' }
  | { op: 'flush' }
  | { op: 'status' };

/**
 * A line of serve-disk's control socket, validated: a bookmark id and group id must be what a
 * batch header accepts (they travel in it), and `app` is refused unless freeze hooks are
 * configured (nothing froze the application otherwise, so the point would lie).
 */
export function parseControl(line: string, appHooks: boolean): ControlMessage {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error('not JSON');
  }
  if (m === null || typeof m !== 'object') throw new Error('not a JSON object');
  if (m.op === 'flush' || m.op === 'status') return { op: m.op };
  if (m.op !== 'bookmark') throw new Error(`unknown op '${String(m.op)}'`);
  if (typeof m.id !== 'string' || !ID_PATTERN.test(m.id))
    throw new Error('bookmark id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}');
  if (m.groupId !== undefined && (typeof m.groupId !== 'string' || !ID_PATTERN.test(m.groupId))) {
    throw new Error('groupId must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}');
  }
  const consistency = m.consistency ?? 'crash';
  if (consistency !== 'crash' && consistency !== 'app')
    throw new Error("consistency must be 'crash' or 'app'");
  if (consistency === 'app' && !appHooks)
    throw new Error('an app-consistent bookmark needs freeze hooks (haven-agent settings)');
  return {
    op: 'bookmark',
    id: m.id,
    ...(m.groupId ? { groupId: m.groupId as string } : {}),
    consistency,
  };
}
