import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type { HostLogger } from '../../../local/host/plugin';
import { waitFor } from '../../support/waitFor';
import { readEvents } from './readEvents';

let host: RunningHost | undefined;
afterAll(() => host?.stop());

describe('retry policy', () => {
  it('retries a throwing handler per its fixed-delay policy, passing retryContext, and logs each failure', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'retry-'));
    const out = join(stateDir, 'events.jsonl');
    const errors: string[] = [];
    const log: HostLogger = { info: () => {}, warn: () => {}, error: (m) => errors.push(m) };
    host = await startHost({
      entry: [join(__dirname, 'fixtures/retryApp.ts')],
      stateDir,
      masterKey: 'master-key-for-tests',
      settings: { FIXTURE_OUT: out },
      log,
    });
    const events = await waitFor('the attempts', () => {
      const e = readEvents<{ attempt: number; retry: unknown }>(out);
      return e.length >= 3 && e;
    });
    expect(events.map((e) => e.retry)).toEqual([
      { retryCount: 0, maxRetryCount: 3 },
      { retryCount: 1, maxRetryCount: 3 },
      { retryCount: 2, maxRetryCount: 3 },
    ]);
    expect(errors.filter((m) => m.includes('flaky failure'))).toHaveLength(2);
  });
});
