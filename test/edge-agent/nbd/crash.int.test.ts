import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { readPayload } from '../../../edge-agent/journal/journalReader';
import { RecordType } from '../../../edge-agent/journal/records';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { unixUri } from './helpers';
import { expectReplicaIsImage, serveFreshDisk } from './killedServer';
import { QemuIo } from './qemuIo';
import { isChange, makeWorkload, prng, qemuIoCommand } from './workload';

const SIZE = 16 * 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('write splitter survives kill -9 (child process, real qemu-io client)', () => {
  for (const seed of [3, 4, 5]) {
    it(`every write acknowledged by FLUSH is in the journal after restart; the replica gets the image (seed ${seed})`, async () => {
      const run = await serveFreshDisk(SIZE);
      const { dir, image, socket, journalDir, server, exited } = run;
      const ops = makeWorkload(seed, 600, SIZE, dir);
      const q = new QemuIo(unixUri(socket));
      await q.ready();
      // Kill at a random op, a random sub-millisecond moment after the client sent it (not
      // a timer on wall time: that raced with machine speed and sometimes hit after the end).
      const rnd = prng(seed);
      const killAt = 100 + Math.floor(rnd() * 400);
      let changesDone = 0;
      let flushedChanges = 0;
      let killer: NodeJS.Timeout | undefined;
      try {
        for (const [i, op] of ops.entries()) {
          const pending = q.cmd(qemuIoCommand(op));
          if (i === killAt)
            killer = setTimeout(() => server.kill('SIGKILL'), Math.floor(rnd() * 3));
          const out = await pending;
          if (/error|fail/i.test(out)) break; // the server is gone
          if (isChange(op)) changesDone++;
          else flushedChanges = changesDone; // FLUSH acknowledged: everything before it is durable
          if (op.kind === 'write' && op.fua) flushedChanges = Math.max(flushedChanges, changesDone);
        }
      } catch {
        // qemu-io exits when the connection drops
      }
      if (killer) clearTimeout(killer);
      server.kill('SIGKILL');
      await exited;
      await q.quit().catch(() => undefined);
      expect(changesDone, 'the kill happened mid-stream').toBeLessThan(ops.filter(isChange).length);
      expect(flushedChanges).toBeGreaterThan(0);

      // Restart: the journal recovers (torn tail cut, last record re-applied to the image).
      const journal = MachineJournal.open({ dir: journalDir });
      expect(journal.recovery).toBe('process-crash');
      const splitter = WriteSplitter.open(journal, 'disk0', image);

      const recs: Array<{ type: RecordType; offset: number; length: number; sha?: string }> = [];
      const r = journal.reader(1);
      for (let rec = r.next(); rec; rec = r.next()) {
        if (rec.type === RecordType.Write)
          recs.push({
            type: rec.type,
            offset: rec.offset,
            length: rec.length,
            sha: sha(readPayload(rec)),
          });
        else if (rec.type === RecordType.Zero)
          recs.push({ type: rec.type, offset: rec.offset, length: rec.length });
      }
      r.close();
      const changes = ops.filter(isChange);
      expect(recs.length).toBeGreaterThanOrEqual(flushedChanges);
      for (let i = 0; i < flushedChanges; i++) {
        const op = changes[i]!;
        const want =
          op.kind === 'write'
            ? { type: RecordType.Write, offset: op.offset, length: op.length, sha: sha(op.data) }
            : { type: RecordType.Zero, offset: op.offset, length: op.length };
        expect(recs[i], `change ${i}`).toEqual(want);
      }
      expectReplicaIsImage(run, journal);
      await journal.close();
      await splitter.close();
    }, 60_000);
  }
});
