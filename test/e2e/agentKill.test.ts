import { describe, expect, it } from 'vitest';
import { iterations } from '../support/soak';
import { useSharedLocalStack } from '../support/useLocalStack';
import { expectNoIncidents, restoredSha, warmedUpMachine } from './support/faults';
import { changeFiles, sha256File } from './support/images';
import {
  after,
  agentStarted,
  killWhen,
  phaseStarts,
  randomInt,
  tally,
  type RunPhase,
} from './support/kill';
import { runOnce, startRunOnce } from './support/machine';

/** Kills that must land in each window of a run (HAVEN_SOAK=1: many more). */
const PER_WINDOW = iterations(2, 7);
/**
 * The windows of a `run --once` a kill is aimed at: a random moment while it scans, batches and
 * spools (sending overlaps); the moment its bookmark is spooled (batches not yet acknowledged by
 * Event Hubs); the moment all is acknowledged (ingest and hydrate still to publish the point).
 */
const WINDOWS = ['spooling', 'sending', 'awaiting point'] as const satisfies RunPhase[];

describe('agent SIGKILLed while it works (architecture §6.1–6.3)', { timeout: 1_200_000 }, () => {
  const env = useSharedLocalStack('haven-e2e-agent-kill-');

  it('a kill in each window of a run: the next point is exact, no seq arrives twice with other content', async () => {
    const { dir, stack } = env;
    const { m, spoolMs } = await warmedUpMachine(stack, dir, 16);
    const landed = tally<RunPhase>();
    const short = () => WINDOWS.filter((w) => landed.get(w) < PER_WINDOW);
    // Aim at the window with the fewest kills so far; what counts is where a kill landed,
    // read from the run's own output, not where it was aimed.
    for (let i = 0; short().length > 0 && i < PER_WINDOW * WINDOWS.length * 3; i++) {
      changeFiles(m.image, `a${i}`, 1 + (i % 4), 64 + i * 64);
      const run = startRunOnce(m, ['--timeout', '120']);
      const aim = short().sort((a, b) => landed.get(a) - landed.get(b))[0]!;
      const when =
        aim === 'spooling'
          ? agentStarted(m.stateDir, run).then(() => after(randomInt(0, spoolMs)))
          : phaseStarts(run, aim);
      const { phase, exit } = await killWhen(m.stateDir, run, when);
      if (phase === 'done') expect(exit.code, exit.stderr).toBe(0);
      landed.add(phase);
      const want = sha256File(m.image);
      const p = await runOnce(m, 120);
      expect(await restoredSha(m, dir, p.id), `run ${i}, killed while ${phase}`).toBe(want);
    }
    console.log(`agent kills landed: ${landed}`);
    for (const w of WINDOWS)
      expect(landed.get(w), `kills in '${w}': ${landed}`).toBeGreaterThanOrEqual(PER_WINDOW);
    await expectNoIncidents(stack, m.machineId);
  });
});
