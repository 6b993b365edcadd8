import type { HostJson } from './hostJson';
import type { HostFunction } from './plugin';
import { durationMs } from './timeSpan';

export interface RetryPolicy {
  strategy: 'fixedDelay' | 'exponentialBackoff';
  /**
   * -1 = until it succeeds, as Azure does for Event Hubs (a function that must not lose a batch
   * says so); a stopping host ends the retries.
   */
  maxRetryCount: number;
  delayMs: number;
  minimumMs: number;
  maximumMs: number;
}

/** Trigger types whose failures are handled by their own protocol, never retried by the host. */
const noHostRetry = /^(httptrigger|orchestrationtrigger|entitytrigger|activitytrigger)$/i;

/** The function's own retry options win over host.json `retry`; HTTP and durable get none. */
export function retryPolicyFor(fn: HostFunction, hostJson: HostJson): RetryPolicy | undefined {
  if (noHostRetry.test(fn.triggerType)) return undefined;
  const r = fn.retry ?? hostJson.retry;
  if (!r) return undefined;
  const strategy = String(r.strategy ?? r.retryStrategy ?? 'fixedDelay');
  const exponential = /exponential/i.test(strategy);
  const max = Number(r.maxRetryCount ?? 0);
  return {
    strategy: exponential ? 'exponentialBackoff' : 'fixedDelay',
    maxRetryCount: max < 0 ? -1 : max,
    delayMs: durationMs(r.delayInterval, 0),
    minimumMs: durationMs(r.minimumInterval, 0),
    maximumMs: durationMs(r.maximumInterval, 15 * 60_000),
  };
}

/** Whether `attempt` (0-based) was the last one the policy allows. */
export function lastAttempt(p: RetryPolicy, attempt: number): boolean {
  return p.maxRetryCount >= 0 && attempt >= p.maxRetryCount;
}

/** Delay before retry number `retry` (1-based). */
export function retryDelayMs(p: RetryPolicy, retry: number): number {
  if (p.strategy === 'fixedDelay') return p.delayMs;
  const base = Math.max(p.minimumMs, 1) * 2 ** (retry - 1);
  return Math.min(Math.max(base, p.minimumMs), p.maximumMs);
}
