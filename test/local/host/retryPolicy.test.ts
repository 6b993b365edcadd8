import { describe, expect, it } from 'vitest';
import { retryDelayMs, retryPolicyFor } from '../../../local/host/retryPolicy';
import { parseTimeSpan } from '../../../local/host/timeSpan';
import type { HostFunction } from '../../../local/host/plugin';

describe('retry policies', () => {
  const fn = (triggerType: string, retry?: Record<string, unknown>): HostFunction => ({
    name: 'f',
    triggerType,
    trigger: {},
    bindings: {},
    retry,
  });

  it('uses the registration, then host.json, and never retries HTTP or durable triggers', () => {
    const hostJson = {
      retry: { strategy: 'fixedDelay', maxRetryCount: 2, delayInterval: '00:00:03' },
    };
    expect(retryPolicyFor(fn('queueTrigger'), hostJson)).toMatchObject({
      maxRetryCount: 2,
      delayMs: 3000,
    });
    expect(
      retryPolicyFor(
        fn('timerTrigger', {
          strategy: 'exponentialBackoff',
          maxRetryCount: 4,
          minimumInterval: { seconds: 1 },
          maximumInterval: { seconds: 5 },
        }),
        hostJson,
      ),
    ).toMatchObject({ strategy: 'exponentialBackoff', maxRetryCount: 4 });
    expect(retryPolicyFor(fn('httpTrigger'), hostJson)).toBeUndefined();
    expect(retryPolicyFor(fn('activityTrigger'), hostJson)).toBeUndefined();
    expect(retryPolicyFor(fn('queueTrigger'), {})).toBeUndefined();
  });

  it('grows exponential delays from the minimum up to the maximum', () => {
    const p = {
      strategy: 'exponentialBackoff' as const,
      maxRetryCount: 5,
      delayMs: 0,
      minimumMs: 1000,
      maximumMs: 5000,
    };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(p, n))).toEqual([1000, 2000, 4000, 5000]);
  });

  it('parses TimeSpans', () => {
    expect(parseTimeSpan('00:00:10')).toBe(10_000);
    expect(parseTimeSpan('1.02:00:00')).toBe(26 * 3600_000);
    expect(parseTimeSpan('00:00:00.250')).toBe(250);
    expect(parseTimeSpan('*/5 * * * * *')).toBeUndefined();
  });
});
