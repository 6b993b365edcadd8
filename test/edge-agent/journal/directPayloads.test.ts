import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, openSync, readSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { FLAG_PAYLOAD_FILE, HEADER_BYTES, RecordType } from '../../../edge-agent/journal/records';
import { SegmentLog } from '../../../edge-agent/journal/segmentLog';
import { readPayload } from '../../../edge-agent/journal/journalReader';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { tempDir } from '../nbd/helpers';
import { newImage } from '../nbd/journalSupport';

const KiB = 1024;

/** Direct payload writes that finish when the test says (then really written). */
function heldDirectWrites() {
  const held: Array<() => void> = [];
  return {
    held,
    writeDirect: (fd: number, payload: Buffer, pos: number) =>
      new Promise<void>((resolve, reject) =>
        held.push(() => {
          try {
            writeSync(fd, payload, 0, payload.length, pos);
            resolve();
          } catch (e) {
            reject(e as Error);
          }
        }),
      ),
    async release() {
      held.shift()!();
      await new Promise((r) => setImmediate(r));
    },
  };
}

function records(j: MachineJournal) {
  const r = j.reader(1);
  const out: Array<{ lsn: number; type: RecordType; flags: number; data?: Buffer }> = [];
  for (let rec = r.next(); rec; rec = r.next())
    out.push({ lsn: rec.lsn, type: rec.type, flags: rec.flags, data: rec.data });
  r.close();
  return out;
}

/** A payload in the journal's O_DIRECT memory. */
function payload(j: MachineJournal, length: number): Buffer {
  const b = j.payloadBuffer(length);
  if (!b) throw new Error('no O_DIRECT memory here');
  randomBytes(length).copy(b);
  return b;
}

describe('large payloads journaled O_DIRECT', () => {
  it('are read back byte-exact, after a reopen too (aligned records between plain ones)', async () => {
    const dir = join(tempDir(), 'j');
    const j = MachineJournal.open({ dir, segmentBytes: 1024 * KiB });
    const disk = j.registerDisk('d', 64 * 1024 * KiB, '/dev/null').index;
    const written: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      const data = i % 3 === 0 ? randomBytes(4 * KiB) : payload(j, 128 * KiB * (1 + (i % 2)));
      written.push(Buffer.from(data));
      j.appendWrite(disk, i * 512 * KiB, data);
    }
    await j.sync();
    const writes = () => records(j).filter((r) => r.type === RecordType.Write);
    expect(writes().map((r) => r.flags & FLAG_PAYLOAD_FILE)).toEqual(
      written.map((w) => (w.length >= 128 * KiB ? FLAG_PAYLOAD_FILE : 0)),
    );
    const check = (jj: MachineJournal) => {
      const r = jj.reader(1);
      const got: Buffer[] = [];
      for (let rec = r.next(); rec; rec = r.next())
        if (rec.type === RecordType.Write) got.push(Buffer.from(readPayload(rec)));
      r.close();
      expect(got.map((g) => g.toString('hex'))).toEqual(written.map((w) => w.toString('hex')));
    };
    check(j);
    await j.close();
    const again = MachineJournal.open({ dir, segmentBytes: 1024 * KiB });
    check(again);
    await again.close();
  });

  it('hold back the records after them until written; a crash meanwhile loses exactly those', async () => {
    const dir = join(tempDir(), 'j');
    const io = heldDirectWrites();
    const j = MachineJournal.open({ dir, writeDirect: io.writeDirect });
    const disk = j.registerDisk('d', 64 * 1024 * KiB, '/dev/null').index;
    const before = j.appendWrite(disk, 0, randomBytes(4 * KiB))!;
    const direct = j.appendWrite(disk, 1024 * KiB, payload(j, 256 * KiB))!;
    const after = j.appendWrite(disk, 0, randomBytes(4 * KiB))!;
    j.flushBatch();
    expect(j.tail.holding).toBe(true);
    expect(j.writtenLsn).toBe(before);
    expect(records(j).at(-1)!.lsn).toBe(before); // the file ends before the held record
    let synced = false;
    void j.sync().then(() => (synced = true));
    const written = j.tail.whenWritten(after)!;
    await new Promise((r) => setTimeout(r, 10));
    expect(synced).toBe(false);

    // A crash now (the process gone, its page cache kept: the files as they are now): the next
    // open finds the log up to `before`, nothing of the held record or what followed it.
    const copy = join(tempDir(), 'j');
    cpSync(dir, copy, { recursive: true });
    const reopened = MachineJournal.open({ dir: copy });
    const found = records(reopened).filter((r) => r.type === RecordType.Write);
    expect(found.map((r) => r.lsn)).toEqual([before]);
    expect(reopened.redo.map((r) => r.lsn)).toEqual([before]);
    await reopened.close();

    // (The first process, had it lived: the payload lands, then the header, then the rest.)
    await io.release();
    await written;
    expect(j.writtenLsn).toBeGreaterThanOrEqual(after);
    expect(records(j).map((r) => r.lsn)).toContain(direct);
    await new Promise((r) => setTimeout(r, 10));
    expect(synced).toBe(true);
    await j.close();
  });

  it('disk writes go ahead of a held record, marked; answers wait; a crash resyncs those ranges', async () => {
    const dir = tempDir();
    const io = heldDirectWrites();
    const image = newImage(dir);
    const j = MachineJournal.open({ dir: join(dir, 'j'), writeDirect: io.writeDirect });
    const s = WriteSplitter.open(j, 'd', image);
    const big = payload(j, 256 * KiB);
    const small = randomBytes(4 * KiB);
    const a = s.write(0, big, false);
    const b = s.write(1024 * KiB, small, false);
    expect(a).toBeInstanceOf(Promise);
    expect(b).toBeInstanceOf(Promise); // held behind the direct record: answered later
    let answered = 0;
    void Promise.all([a, b]).then(() => (answered = 2));
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(0);
    // Both are on the image already, beside the payload's journal write still in flight.
    const onImage = (offset: number, length: number) => {
      const got = Buffer.alloc(length);
      const fd = openSync(image, 'r');
      readSync(fd, got, 0, length, offset);
      closeSync(fd);
      return got;
    };
    expect(onImage(0, big.length).equals(big)).toBe(true);
    expect(onImage(1024 * KiB, small.length).equals(small)).toBe(true);

    // A crash now (files as they are): the journal lost both records, the image has them; the
    // reopened journal marks exactly their ranges dirty (64 KiB blocks) and resyncs them.
    const crashed = join(tempDir(), 'crashed');
    cpSync(dir, crashed, { recursive: true });
    const reopened = MachineJournal.open({ dir: join(crashed, 'j') });
    expect(records(reopened).filter((r) => r.type === RecordType.Write)).toEqual([]);
    const s2 = WriteSplitter.open(reopened, 'd', join(crashed, 'disk.img'));
    expect(reopened.bitmap(0).setBlocks()).toEqual([0, 1, 2, 3, 16]);
    expect(records(reopened).at(-1)!.type).toBe(RecordType.Resync);
    await reopened.close();
    await s2.close();

    await io.release();
    await Promise.all([a, b]);
    await j.close();
    await s.close();
    // A clean close leaves no marks behind: the next open resyncs nothing.
    const clean = MachineJournal.open({ dir: join(dir, 'j') });
    const s3 = WriteSplitter.open(clean, 'd', image);
    expect(clean.bitmap(0).setBlocks()).toEqual([]);
    await clean.close();
    await s3.close();
  });

  it('stay held while their O_DIRECT write runs, a failed one too (their memory is reused after)', async () => {
    const pinned = new Set<Uint8Array>();
    const pins = {
      pin: (b: Uint8Array) => {
        pinned.add(b);
        return () => pinned.delete(b);
      },
    };
    const done: Array<(e?: Error) => void> = [];
    const log = new SegmentLog(
      {
        dir: tempDir(),
        segmentBytes: 1024 * KiB,
        preallocate: false,
        direct: true,
        writeDirect: () => new Promise<void>((ok, fail) => done.push((e) => (e ? fail(e) : ok()))),
        pins,
        log: () => undefined,
      },
      [],
      1,
    );
    const a = Buffer.alloc(128 * KiB);
    const b = Buffer.alloc(128 * KiB);
    log.appendDirect(1, Buffer.alloc(HEADER_BYTES), a);
    log.appendDirect(2, Buffer.alloc(HEADER_BYTES), b);
    expect([...pinned]).toEqual([a, b]);
    const failed = log.whenWritten(1)!.catch((e: Error) => e.message);
    done.shift()!(new Error('EIO'));
    expect(await failed).toBe('EIO');
    expect([...pinned]).toEqual([b]);
    done.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(pinned.size).toBe(0);
  });

  it('count towards the journal capacity and go with their segments once released', async () => {
    const dir = join(tempDir(), 'j');
    const j = MachineJournal.open({ dir, segmentBytes: 512 * KiB });
    const disk = j.registerDisk('d', 64 * 1024 * KiB, '/dev/null').index;
    const before = j.retainedBytes();
    for (let i = 0; i < 8; i++) j.appendWrite(disk, i * 256 * KiB, payload(j, 256 * KiB));
    await j.sync();
    expect(j.retainedBytes() - before).toBeGreaterThanOrEqual(8 * 256 * KiB);
    const payloadFiles = () => readdirSync(dir).filter((n) => n.endsWith('.hvp'));
    expect(payloadFiles().length).toBeGreaterThanOrEqual(3); // one per 512 KiB segment
    await j.releases.syncDisks();
    await j.release(j.lastLsn);
    await new Promise((r) => setTimeout(r, 50)); // unlinks run off the event loop
    expect(payloadFiles()).toHaveLength(1); // the tail segment's
    expect(j.retainedBytes()).toBeLessThan(3 * 256 * KiB);
    await j.close();
  });

  it('a payload file no record reached (a crash right after creating it) goes with its segment', async () => {
    const dir = join(tempDir(), 'j');
    const j = MachineJournal.open({ dir, segmentBytes: 256 * KiB });
    const disk = j.registerDisk('d', 64 * 1024 * KiB, '/dev/null').index;
    j.appendWrite(disk, 0, randomBytes(4 * KiB));
    await j.close();
    const [seg] = readdirSync(dir).filter((n) => n.endsWith('.hvj'));
    // What a crash leaves after the O_DIRECT open of the segment's first large write.
    closeSync(openSync(join(dir, seg!.replace(/\.hvj$/, '.hvp')), 'w'));
    const again = MachineJournal.open({ dir, segmentBytes: 256 * KiB });
    for (let i = 0; i < 64; i++) again.appendWrite(disk, i * 16 * KiB, randomBytes(16 * KiB));
    await again.sync();
    await again.releases.syncDisks();
    await again.release(again.lastLsn);
    await new Promise((r) => setTimeout(r, 50)); // unlinks run off the event loop
    expect(readdirSync(dir).filter((n) => n.endsWith('.hvp'))).toEqual([]);
    await again.close();
  });

  it('a lost payload file ends the log where its first record was, without failing the open', async () => {
    const dir = join(tempDir(), 'j');
    const j = MachineJournal.open({ dir });
    const disk = j.registerDisk('d', 64 * 1024 * KiB, '/dev/null').index;
    const kept = j.appendWrite(disk, 0, randomBytes(4 * KiB))!;
    j.appendWrite(disk, 1024 * KiB, payload(j, 256 * KiB));
    await j.close();
    for (const n of readdirSync(dir)) if (n.endsWith('.hvp')) rmSync(join(dir, n));
    const again = MachineJournal.open({ dir });
    const writes = records(again).filter((r) => r.type === RecordType.Write);
    expect(writes.map((r) => r.lsn)).toEqual([kept]);
    await again.close();
  });

  it('stay in the page cache when switched off', async () => {
    const off = MachineJournal.open({ dir: join(tempDir(), 'j'), directPayloads: false });
    expect(off.payloadBuffer(256 * KiB)).toBeUndefined();
    await off.close();
  });
});
