import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAzurite } from '../../../local/stack/azurite';
import { completeFileLines } from '../../support/completeLines';
import { waitFor } from '../../support/waitFor';
import { startDurableHost, startOrchestration, waitFor as waitForInstance } from './support';

const port = (url: string) => Number(new URL(url).port);

describe('storage outage', () => {
  it('an orchestration in flight resumes by itself when Azurite comes back (no host restart)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'durable-outage-'));
    let azurite = await startAzurite({ location: join(dir, 'azurite') });
    const ports = {
      blobPort: port(azurite.blobUrl),
      queuePort: port(azurite.queueUrl),
      tablePort: port(azurite.tableUrl),
    };
    const effects = join(dir, 'effects.jsonl');
    const h = await startDurableHost(azurite.connectionString, {
      settings: { DURABLE_TEST_EFFECTS: effects },
    });
    const lines = () => completeFileLines(effects);
    try {
      const id = await startOrchestration(h, 'Steps', { prefix: 'o', steps: 12, delayMs: 100 });
      await waitFor('three steps done', () => lines().length >= 3, { intervalMs: 20 });
      await azurite.stop();
      await new Promise((r) => setTimeout(r, 8000)); // longer than the SDK's own retries
      azurite = await startAzurite({ location: join(dir, 'azurite'), ...ports });
      const s = await waitForInstance(h, id, undefined, 60_000);
      expect(s.runtimeStatus).toBe('Completed');
      expect(s.output).toEqual(Array.from({ length: 12 }, (_, i) => `o:${i}`));
      const counts = new Map<string, number>();
      for (const l of lines()) counts.set(l, (counts.get(l) ?? 0) + 1);
      expect(counts.size).toBe(12);
      // At-least-once only for the step whose result could not be written during the outage.
      expect([...counts.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(1);
    } finally {
      await h.stop();
      await azurite.stop();
    }
  }, 120_000);
});
