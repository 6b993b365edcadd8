import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { truncateSync, writeFileSync } from 'node:fs';
import { peekHeader } from '../../../core/batch';
import { Batcher } from '../../../edge-agent/batcher';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { Spool } from '../../../edge-agent/spool';
import { redoAfterCheckpoint } from '../../../edge-agent/spoolRecovery';
import { fakeDisk } from '../support/batcherFakes';
import { tempDir } from './helpers';

const SIZE = 8 * 1024 * 1024;
const ident = { machineId: 'm', keyId: 'k', key: randomBytes(32) };

/** The agent's parts over one journal and spool directory, as a restart opens them. */
async function open(dir: string) {
  const j = MachineJournal.open({ dir: join(dir, 'j'), segmentBytes: 1024 * 1024 });
  const spool = await Spool.open(join(dir, 'spool'), { maxBytes: 256 * 1024 * 1024 });
  const src = new JournalChangeSource(j, { windowMs: 0, drainThread: false });
  const spooled = await redoAfterCheckpoint(spool, src, () => {});
  const batcher = new Batcher(spool, src, new Map([['d0', fakeDisk(SIZE)]]), ident);
  batcher.spooledBefore(spooled);
  const checkpoint = async () => {
    const covered = await batcher.coverage();
    await src.checkpoint();
    await spool.setCheckpoint(covered);
  };
  /** Feeds the batcher until idle, or until `stop` says the process dies there. */
  const pump = async (stop: (kind: string) => boolean) => {
    const ac = new AbortController();
    for await (const r of src.changes(ac.signal)) {
      await batcher.add(r);
      if (stop(r.kind)) break;
      if (r.kind === 'idle') {
        await checkpoint();
        break;
      }
    }
    ac.abort();
  };
  const close = async () => {
    await src.close();
    await spool.close();
    await j.close();
  };
  return { j, spool, pump, close };
}

describe('a bookmark spooled just before the agent died', () => {
  it('is not spooled again when the journal hands it out again after the restart', async () => {
    const dir = tempDir();
    const image = join(dir, 'disk.img');
    writeFileSync(image, '');
    truncateSync(image, SIZE);
    const first = await open(dir);
    const s = WriteSplitter.open(first.j, 'd0', image, { initialSync: false });
    for (let i = 0; i < 10; i++) await s.write(i * 65536, randomBytes(4096), false);
    await first.pump(() => false); // spooled and checkpointed
    first.j.insertBookmark({ id: 'b1', consistency: 'crash', createdAt: new Date().toISOString() });
    // Spooled, then the process dies before the checkpoint that would release it from the journal.
    await first.pump((kind) => kind === 'bookmark');
    await s.close();
    await first.close();
    const again = await open(dir);
    await again.pump(() => false);
    const cuts: number[] = [];
    for (const e of again.spool.pending()) {
      const h = peekHeader(await again.spool.read(e));
      if (h.bookmark?.id === 'b1') cuts.push(h.seq);
    }
    expect(cuts).toHaveLength(1);
    await again.close();
  });
});
