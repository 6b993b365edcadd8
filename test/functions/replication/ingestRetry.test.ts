import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadApp } from '../../../local/host/loadApp';
import { readHostJson } from '../../../local/host/hostJson';
import { lastAttempt, retryPolicyFor } from '../../../local/host/retryPolicy';

/**
 * Azure's Event Hubs trigger checkpoints past an invocation that failed with no retry left
 * (the local driver does the same: driverCheckpoints.test.ts). The agent has released what it
 * sent, so an Event Hubs function of the app without an unlimited retry policy would lose the
 * batches of any invocation a storage or database outage failed.
 */
describe('the app’s Event Hubs functions', () => {
  it('retry a failed invocation until it succeeds (ingest among them)', () => {
    const app = loadApp([resolve('functions/index.ts')], { functions: [], hooks: [] });
    try {
      const hostJson = readHostJson(resolve('host.json'));
      const hubs = app.functions.filter((f) => /^eventHubTrigger$/i.test(f.triggerType));
      expect(hubs.map((f) => f.name)).toContain('ingest');
      for (const fn of hubs) {
        const policy = retryPolicyFor(fn, hostJson);
        expect(policy, fn.name).toMatchObject({ maxRetryCount: -1 });
        expect(lastAttempt(policy!, 1_000_000)).toBe(false);
      }
    } finally {
      app.unload();
    }
  });
});
