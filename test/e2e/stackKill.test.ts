import { describe, expect, it } from 'vitest';
import { startStack, type StackProc } from '../support/localStack';
import { useOwnLocalStack } from '../support/useLocalStack';
import { iterations } from '../support/soak';
import {
  expectNoIncidents,
  loggedAt,
  pointPublishedAt,
  restoredSha,
  spooledBookmark,
  warmedUpMachine,
} from './support/faults';
import { changeFiles, sha256File } from './support/images';
import { phaseStarts, tally } from './support/kill';
import { runOnce, startRunOnce } from './support/machine';

// How the stack goes down. Default 'term': SIGTERM while the agent sends and the host ingests
// and hydrates (in-flight invocations are cut off; the emulators flush). 'all' / 'host' SIGKILL
// the whole group / all but Azurite: the local emulators are not crash-durable (Azurite saves
// blob metadata every few seconds, the in-process Cosmos emulator snapshots ~500 ms after a
// write), so storage and Cosmos can come back disagreeing — a failure of the stand-ins, not of
// Haven (Azure Storage and Cosmos acknowledge durably). Host SIGKILLs on durable storage are
// covered by test/local/durable/crash.test.ts and test/local/eventhubs/durability.test.ts.
const KILL = (process.env.HAVEN_E2E_STACK_KILL ?? 'term') as 'term' | 'host' | 'all';

/** Stops that must land in each window (HAVEN_SOAK=1: many more); each costs a stack restart. */
const PER_WINDOW = iterations(1, 10);

/**
 * Where a run was when the stack went down at `t`: its batches in flight (the bookmark spooled,
 * not all of it acknowledged by Event Hubs), or all acknowledged and ingest/hydrate not yet done
 * (the point not published); else before its bookmark, or after its point.
 */
type StopPhase = 'before bookmark' | 'batches in flight' | 'ingest/hydrate pending' | 'after point';
const WINDOWS = ['batches in flight', 'ingest/hydrate pending'] as const satisfies StopPhase[];

function stopPhase(t: number, stderr: string, stack: StackProc): StopPhase {
  const spooled = loggedAt(stderr, 'bookmark spooled');
  const sent = loggedAt(stderr, 'bookmark sent');
  const id = spooledBookmark(stderr);
  const published = id ? pointPublishedAt(stack, id) : undefined;
  if (spooled === undefined || spooled > t) return 'before bookmark';
  if (sent === undefined || sent > t) return 'batches in flight';
  if (published === undefined || published > t) return 'ingest/hydrate pending';
  return 'after point';
}

describe(
  'stack stopped under a running agent (architecture §6.1–6.3)',
  { timeout: 1_800_000 },
  () => {
    const env = useOwnLocalStack('haven-e2e-stack-kill-');

    it('stack stopped while batches are in flight / being ingested and hydrated, restarted on its state: the next point is exact', async () => {
      const { dir } = env;
      const { m } = await warmedUpMachine(env.stack, dir, 16);
      const landed = tally<StopPhase>();
      const runs = tally<'run survived' | 'run failed'>();
      const short = () => WINDOWS.filter((w) => landed.get(w) < PER_WINDOW);
      for (let i = 0; short().length > 0 && i < PER_WINDOW * WINDOWS.length * 3; i++) {
        changeFiles(m.image, `b${i}`, 1 + (i % 4), 128 + i * 64);
        const want = sha256File(m.image);
        const run = startRunOnce(m, ['--timeout', '60']);
        const aim = short().sort((a, b) => landed.get(a) - landed.get(b))[0]!;
        await phaseStarts(run, aim === 'batches in flight' ? 'sending' : 'awaiting point').catch(
          () => undefined,
        );
        const t = Date.now();
        const down = env.stack;
        if (KILL === 'term') await down.stop();
        else await down.kill9(KILL);
        env.stack = await startStack(down.stateDir, down.port);
        // The interrupted run retries through the outage; it must end either way.
        const r = await run.done;
        const phase = stopPhase(t, r.stderr, env.stack);
        landed.add(phase);
        runs.add(r.code === 0 ? 'run survived' : 'run failed');
        const p = await runOnce(m, 60);
        expect(await restoredSha(m, dir, p.id), `run ${i}, stopped while ${phase}`).toBe(want);
      }
      console.log(`stack stops landed: ${landed}; interrupted runs: ${runs}`);
      for (const w of WINDOWS)
        expect(landed.get(w), `stops in '${w}': ${landed}`).toBeGreaterThanOrEqual(PER_WINDOW);
      await expectNoIncidents(env.stack, m.machineId);
    });
  },
);
