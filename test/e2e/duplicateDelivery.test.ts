import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { peekHeader } from '../../core/batch';
import { iterations } from '../support/soak';
import type { StackInfo } from '../support/localStack';
import { useSharedLocalStack } from '../support/useLocalStack';
import {
  bookmarkOf,
  captureRun,
  duplicatedShuffled,
  publish,
  waitForPoint,
} from './support/delivery';
import { expectNoIncidents, restoredSha } from './support/faults';
import { changeFiles, makeImage, sha256File } from './support/images';
import { protectedMachine } from './support/machine';

const ROUNDS = iterations(3, 20);

/** What ingest logged on the stack since `from` (its log's length then): events and duplicates. */
function ingested(stack: StackInfo, from: number): { events: number; duplicates: number } {
  const log = readFileSync(path.join(stack.stateDir, 'logs', 'host.log'), 'utf8').slice(from);
  let events = 0;
  let duplicates = 0;
  for (const m of log.matchAll(/ info ingest: (\d+) events, .*duplicate (\d+)/g)) {
    events += Number(m[1]);
    duplicates += Number(m[2]);
  }
  return { events, duplicates };
}

const hostLogLength = (stack: StackInfo) =>
  readFileSync(path.join(stack.stateDir, 'logs', 'host.log'), 'utf8').length;

describe('duplicated and re-ordered delivery (architecture §6.3)', { timeout: 1_200_000 }, () => {
  const env = useSharedLocalStack('haven-e2e-dup-');

  it('every batch 2–3 times, shuffled, straight to Event Hubs: points exact, duplicates are no-ops', async () => {
    const { dir, stack } = env;
    const image = path.join(dir, 'disk.img');
    makeImage(image, 16);
    const m = await protectedMachine(stack, dir, image);
    for (let i = 0; i < ROUNDS; i++) {
      if (i > 0) changeFiles(m.image, `c${i}`, 1 + (i % 4), 64 + i * 64);
      const want = sha256File(m.image);
      const batches = await captureRun(m, path.join(dir, `capture-${i}`));
      let sent = duplicatedShuffled(batches.map((b) => b.envelope));
      const seqs = () => sent.map((e) => peekHeader(e).seq);
      // The fault must be there: some batch arrives before one it follows.
      while (seqs().every((s, k, a) => k === 0 || a[k - 1]! <= s))
        sent = duplicatedShuffled(batches.map((b) => b.envelope));
      const logFrom = hostLogLength(stack);
      await publish(m, sent);
      const p = await waitForPoint(m, bookmarkOf(batches));
      expect(await restoredSha(m, dir, p.id), `round ${i}`).toBe(want);
      // ... and it reached the service: every copy was ingested, the extra ones as duplicates.
      const got = ingested(stack, logFrom);
      expect(got.events, `round ${i}`).toBeGreaterThanOrEqual(sent.length);
      expect(got.duplicates, `round ${i}`).toBeGreaterThan(0);
    }
    await expectNoIncidents(stack, m.machineId);
  });
});
