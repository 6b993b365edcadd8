import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type { HostLogger } from '../../../local/host/plugin';
import { waitFor } from '../../support/waitFor';
import { readEvents } from './readEvents';

const quiet: HostLogger = { info: () => {}, warn: () => {}, error: () => {} };
let host: RunningHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

interface Tick {
  fn: string;
  phase: 'start' | 'end';
  at: number;
  isPastDue?: boolean;
  last?: string | null;
}

async function start(
  settings: Record<string, string>,
  stateDir = mkdtempSync(join(tmpdir(), 'timer-')),
) {
  const out = join(stateDir, 'events.jsonl');
  host = await startHost({
    entry: [join(__dirname, 'fixtures/timerApp.ts')],
    stateDir,
    masterKey: 'master-key-for-tests',
    settings: { FIXTURE_OUT: out, TICK_SLEEP_MS: '0', TICK_ON_STARTUP: 'false', ...settings },
    log: quiet,
  });
  return { out, stateDir };
}

describe('timer trigger', () => {
  it('runs an NCRONTAB schedule without overlapping runs and flags late runs as past due', async () => {
    const { out } = await start({ TICK_SCHEDULE: '*/1 * * * * *', TICK_SLEEP_MS: '1500' });
    const ticks = await waitFor('the ticks', () => {
      const e = readEvents<Tick>(out);
      return e.filter((x) => x.phase === 'end').length >= 3 && e;
    });
    for (let i = 1; i < ticks.length; i++) {
      // strictly alternating start/end: a run never starts before the previous one ended
      expect(ticks[i]!.phase).not.toBe(ticks[i - 1]!.phase);
    }
    const starts = ticks.filter((t) => t.phase === 'start');
    expect(starts[0]!.isPastDue).toBe(false);
    expect(starts.slice(1).some((t) => t.isPastDue)).toBe(true);
    expect(starts[1]!.last).not.toBeNull();
  });

  it('runs on startup when asked, with a TimeSpan schedule', async () => {
    const { out } = await start({ TICK_SCHEDULE: '01:00:00', TICK_ON_STARTUP: 'true' });
    await waitFor('the end of the tick', () =>
      readEvents<Tick>(out).some((t) => t.phase === 'end'),
    );
    expect(readEvents<Tick>(out)[0]).toMatchObject({ phase: 'start', isPastDue: false });
  });

  it('catches up a run missed while the host was down, marked past due', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'timer-'));
    mkdirSync(join(stateDir, 'timers'));
    const missed = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(
      join(stateDir, 'timers', 'tick.json'),
      JSON.stringify({ Last: missed, Next: missed, LastUpdated: missed }),
    );
    const { out } = await start({ TICK_SCHEDULE: '0 0 0 1 1 *' }, stateDir);
    const first = await waitFor('a first tick', () => readEvents<Tick>(out)[0]);
    expect(first).toMatchObject({ phase: 'start', isPastDue: true, last: missed });
  });

  it('runs a timer on demand through the admin API (master key only)', async () => {
    const { out } = await start({ TICK_SCHEDULE: '0 0 0 1 1 *' });
    const base = host!.baseUrl;
    expect(
      (await fetch(`${base}/admin/functions/tick`, { method: 'POST', body: '{}' })).status,
    ).toBe(401);
    const status = await fetch(`${base}/admin/host/status`, {
      headers: { 'x-functions-key': 'master-key-for-tests' },
    });
    expect(await status.json()).toMatchObject({ state: 'Running', functions: 1 });
    const list = await fetch(`${base}/admin/functions?code=master-key-for-tests`);
    expect(await list.json()).toMatchObject([{ name: 'tick', triggerType: 'timerTrigger' }]);
    const run = await fetch(`${base}/admin/functions/tick`, {
      method: 'POST',
      body: '{}',
      headers: { 'x-functions-key': 'master-key-for-tests' },
    });
    expect(run.status).toBe(202);
    expect(await waitFor('a first tick', () => readEvents<Tick>(out)[0])).toMatchObject({
      phase: 'start',
      isPastDue: false,
    });
  });

  it('a disabled function (AzureWebJobs.<name>.Disabled) does not tick; the admin API still runs it', async () => {
    const { out } = await start({
      TICK_SCHEDULE: '*/1 * * * * *',
      TICK_ON_STARTUP: 'true',
      'AzureWebJobs.tick.Disabled': 'true',
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(readEvents<Tick>(out)).toEqual([]);
    const run = await fetch(`${host!.baseUrl}/admin/functions/tick`, {
      method: 'POST',
      body: '{}',
      headers: { 'x-functions-key': 'master-key-for-tests' },
    });
    expect(run.status).toBe(202);
    await waitFor('the tick run by hand', () => readEvents<Tick>(out)[0]);
    // The host exports its settings to process.env (the app reads them there): not to the next test.
    delete process.env['AzureWebJobs.tick.Disabled'];
  });

  it('rejects an invalid schedule at start', async () => {
    await expect(start({ TICK_SCHEDULE: 'every now and then' })).rejects.toThrow(/NCRONTAB/);
  });
});
