import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { iterations } from '../support/soak';
import { useOwnLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import { incidents } from './support/admin';
import { bookmarkOf, captureRun, machineClient, publish } from './support/delivery';
import { changeFiles, makeImage, sha256File } from './support/images';
import { randomInt } from './support/kill';
import { protectedMachine, runOnce, startRunOnce } from './support/machine';
import { plantStaged, replicaSha } from './support/storage';

/** Machines, each with one corrupted batch; even ones rot after ingest, odd ones around it. */
const MACHINES = iterations(2, 20);

describe('a corrupted staged batch (architecture §6.1, §6.3)', { timeout: 1_200_000 }, () => {
  // Its own stack, without the automatic resync's timer: the test shows the stopped generation
  // staying stopped, where that timer (every 5 minutes of the clock) would resync it in between.
  const env = useOwnLocalStack('haven-e2e-corrupt-', {
    AzureWebJobs__autoResync__Disabled: 'true',
  });

  it('one flipped bit: refused and recorded, replica unchanged, the disk does not advance past it', async () => {
    const { dir, stack } = env;
    const once = async (i: number) => {
      const mdir = mkdtempSync(path.join(dir, `${i}-`));
      const image = path.join(mdir, 'disk.img');
      makeImage(image, 8);
      const m = await protectedMachine(stack, mdir, image);
      await runOnce(m);
      const src1 = sha256File(m.image);
      changeFiles(m.image, `d${i}`, 2);
      const batches = await captureRun(m, path.join(mdir, 'capture'));
      const first = batches[0]!;
      const bad = Buffer.from(first.envelope);
      bad[randomInt(0, bad.length)]! ^= 1 << randomInt(0, 8);
      await plantStaged(stack, m, first.seq, bad, first.envelope, i % 2 === 0);
      await publish(
        m,
        batches.map((b) => b.envelope),
      );

      const stopped = await waitFor(
        `disk of ${m.machineId} stopped`,
        async () => {
          const inc = await incidents(stack, m.machineId);
          return inc.disks[0]?.stopped ? inc : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(stopped.disks[0]!.stopped, `machine ${i}`).toMatchObject({ seq: first.seq });
      expect(stopped.disks[0]!.appliedSeq).toBe(first.seq - 1);
      expect(stopped.alerts.map((a) => [a.kind, a.seq])).toEqual([
        ['replication-integrity', first.seq],
      ]);
      // Later batches (a new run through Event Hubs) are refused too: no point, no progress.
      changeFiles(m.image, `e${i}`, 1);
      const r = await startRunOnce(m, ['--timeout', '3']).done;
      expect(r.code).not.toBe(0);
      // The captured bookmark's point may exist as durable (ingest stored every batch; the rot
      // came after), but it never materializes past the corrupt batch.
      const p = (await machineClient(m).recoveryPoint(m.machineId, bookmarkOf(batches))) as
        { materialized?: boolean } | undefined;
      expect(p?.materialized ?? false, `machine ${i}: ${JSON.stringify(p)}`).toBe(false);
      const inc = await incidents(stack, m.machineId);
      expect(inc.disks[0]!.appliedSeq).toBe(first.seq - 1);
      expect(await replicaSha(stack, m, 8 * 2 ** 20)).toBe(src1);
    };
    for (let i = 0; i < MACHINES; i += 2) await Promise.all([once(i), once(i + 1)]);
  });
});
