import { EmulatorError } from './emulatorError';
import type { PartitionLog } from './partitionLog';

/** Reads the selector filter string, whichever way rhea hands the described value over. */
export function selectorFilter(source: unknown): string | undefined {
  const filter = (source as { filter?: Record<string, unknown> } | undefined)?.filter;
  if (!filter) return undefined;
  for (const [k, v] of Object.entries(filter)) {
    if (!k.includes('selector-filter')) continue;
    let x: unknown = v;
    for (let i = 0; i < 3 && x && typeof x === 'object'; i++) x = (x as { value?: unknown }).value;
    if (typeof x === 'string') return x;
  }
  return undefined;
}

/** First sequence number a new receiver gets, from the SDK's selector filter. */
export function startPosition(log: PartitionLog, filter: string | undefined): number {
  if (!filter) return log.endSequenceNumber;
  const m =
    /amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'/i.exec(
      filter,
    );
  if (!m)
    throw new EmulatorError('com.microsoft:argument-error', 400, `Unsupported filter: ${filter}`);
  const [, field, op, value] = m;
  const inclusive = op === '>=';
  if (field === 'offset') {
    if (value === '@latest') return log.endSequenceNumber;
    const o = Number(value);
    if (!Number.isFinite(o))
      throw new EmulatorError('com.microsoft:argument-error', 400, `Bad offset '${value}'.`);
    if (o < 0) return log.beginSequenceNumber;
    return log.seqForOffset(o, inclusive);
  }
  if (field === 'sequence-number') {
    const n = Number(value);
    if (!Number.isFinite(n))
      throw new EmulatorError(
        'com.microsoft:argument-error',
        400,
        `Bad sequence number '${value}'.`,
      );
    return Math.max(log.beginSequenceNumber, inclusive ? n : n + 1);
  }
  const t = Number(value);
  if (!Number.isFinite(t))
    throw new EmulatorError('com.microsoft:argument-error', 400, `Bad time '${value}'.`);
  return log.seqForTime(inclusive ? t - 1 : t);
}
