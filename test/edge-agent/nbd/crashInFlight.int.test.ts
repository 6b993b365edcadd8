import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { RecordType } from '../../../edge-agent/journal/records';
import { ASYNC_WRITE_BYTES } from '../../../edge-agent/nbd/imageWriteQueue';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { unixUri } from './helpers';
import { waitFor } from '../../support/waitFor';
import { expectReplicaIsImage, journalBytes, serveFreshDisk } from './killedServer';

const SIZE = 16 * 1024 * 1024;

/**
 * fio through libnbd keeps 8 writes of 4 KiB to 1 MiB in flight over a 16 MiB disk: large ones
 * go to the image in the thread pool (beside their O_DIRECT journal writes), small ones in the
 * turn, and they overlap each other. The server is killed mid-stream; after the restart (redo
 * of the last records), what the replica gets must be exactly the image: the journal replayed
 * onto the initial image, plus the ranges of image writes the journal lost, resynced from the
 * image (no more than the writes in flight), the writes in flight at the kill re-applied
 * (without the redo the images differ), and writes that overlapped in the journal's order
 * (`imageWriteQueue.test.ts` forces that case).
 */
describe('write splitter survives kill -9 with large writes in flight (fio, iodepth 8)', () => {
  for (const seed of [7, 8]) {
    it(`the replica after restart is the image (seed ${seed})`, async () => {
      const run = await serveFreshDisk(SIZE);
      const { image, socket, journalDir, server, exited } = run;
      const fio = spawn(
        'fio',
        [
          '--name=inflight',
          '--rw=randwrite',
          '--bsrange=4k-1m',
          `--size=${SIZE}`,
          '--io_size=4g',
          '--iodepth=8',
          '--ioengine=nbd',
          `--uri=${unixUri(socket)}`,
          `--randseed=${seed}`,
          '--refill_buffers=1',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const fioDone = new Promise<void>((r) => fio.once('exit', () => r()));
      // Killed once the journal holds a stream of writes (not after a fixed time: fio's start
      // took longer than that on a loaded machine, and the kill hit before the large writes).
      await waitFor('fio writes journaled', () => journalBytes(journalDir) >= 12 * 1024 * 1024, {
        timeoutMs: 30_000,
        intervalMs: 10,
      });
      await new Promise((r) => setTimeout(r, seed * 7));
      server.kill('SIGKILL');
      await exited;
      await fioDone; // the connection dropped under it

      const journal = MachineJournal.open({ dir: journalDir });
      expect(journal.recovery).toBe('process-crash');
      let large = 0;
      const r = journal.reader(1);
      for (let rec = r.next(); rec; rec = r.next())
        if (rec.type === RecordType.Write && rec.length >= ASYNC_WRITE_BYTES) large++;
      r.close();
      expect(large, 'writes large enough for the thread pool were journaled').toBeGreaterThan(8);
      const splitter = WriteSplitter.open(journal, 'disk0', image); // redo of the last records
      // At most the writes in flight (8, each ≤ 1 MiB, widened to 64 KiB bitmap blocks).
      const resynced = expectReplicaIsImage(run, journal);
      expect(resynced).toBeLessThanOrEqual(8 * (1024 + 128) * 1024);
      await journal.close();
      await splitter.close();
    }, 60_000);
  }
});
