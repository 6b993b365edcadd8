import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { IntervalMap, toExtents } from '../../../edge-agent/journal/coalescer';
import { NbdServer } from '../../../edge-agent/nbd/server';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { WriteGate } from '../../../edge-agent/nbd/writeGate';
import { RecordType } from '../../../edge-agent/journal/records';
import { sha256File } from '../../../local/images/ext4';
import { drainAndCommit, tempDir, unixUri } from './helpers';
import { SIZE, newImage, splitterOnNewImage } from './journalSupport';
import { QemuIo } from './qemuIo';
import { makeWorkload, qemuIoCommand } from './workload';

describe('machine journal', () => {
  it('a group cut barrier: writes arriving while writes are held wait, in order, after the cut', async () => {
    const { image, j, s } = await splitterOnNewImage(tempDir());
    const gate = new WriteGate();
    s.gate = gate;
    const source = new JournalChangeSource(j, { gate });
    const release = source.holdWrites!();
    await source.requestBookmark({
      id: 'cut-1',
      consistency: 'crash',
      groupId: 'erp',
      barrier: true,
    });
    const before = readFileSync(image);
    const acked: string[] = [];
    const w = Promise.resolve(s.write(8192, Buffer.alloc(4096, 7), false)).then(() =>
      acked.push('write'),
    );
    const z = Promise.resolve(s.writeZeroes(0, 4096, false)).then(() => acked.push('zero'));
    const nested = gate.close(); // a second cut in the same window
    release();
    await new Promise((r) => setTimeout(r, 30));
    expect(acked).toEqual([]);
    expect(readFileSync(image).equals(before)).toBe(true); // not applied either
    nested();
    await Promise.all([w, z]);
    expect(acked).toEqual(['write', 'zero']);
    const order: string[] = [];
    const r = j.reader(1);
    for (let rec = r.next(); rec; rec = r.next()) {
      if (rec.type === RecordType.Bookmark) order.push('bookmark');
      else if (rec.type === RecordType.Write) order.push(`write@${rec.offset}`);
      else if (rec.type === RecordType.Zero) order.push(`zero@${rec.offset}`);
    }
    r.close();
    expect(order).toEqual(['write@0', 'bookmark', 'write@8192', 'zero@0']);
    const cut = (await source.poll()).find((i) => i.kind === 'set' && i.set.bookmark);
    expect(cut?.kind === 'set' && cut.set.bookmark).toMatchObject({ id: 'cut-1', barrier: true });
    await source.close();
    await s.close();
  });

  it('coalescing keeps last-writer-wins across overlapping pieces', () => {
    const m = new IntervalMap();
    const data = (v: number, n: number) => {
      const b = Buffer.alloc(n, v);
      return {
        kind: 'data' as const,
        base: 0,
        read: (f: number, l: number) => b.subarray(f, f + l),
      };
    };
    m.set(0, 4096, data(1, 4096));
    m.set(1024, 2048, data(2, 1024));
    m.set(1536, 3072, { kind: 'zero' });
    m.set(3584, 8192, data(3, 4608));
    const img = Buffer.alloc(8192, 0xee);
    for (const e of toExtents(m)) {
      if (e.kind === 'data') e.data.copy(img, e.offset);
      else img.fill(0, e.offset, e.offset + e.length);
    }
    const want = Buffer.alloc(8192, 0xee);
    want.fill(1, 0, 4096);
    want.fill(2, 1024, 2048);
    want.fill(0, 1536, 3072);
    want.fill(3, 3584, 8192);
    expect(img.equals(want)).toBe(true);
    expect(m.bytes).toBe(8192);
  });

  it('coalescing joins adjacent pieces into the memory it is given; a lone piece is not copied', () => {
    const m = new IntervalMap();
    const lone = Buffer.alloc(4096, 9);
    const piece = (b: Buffer) => ({
      kind: 'data' as const,
      base: 0,
      read: (f: number, l: number) => b.subarray(f, f + l),
    });
    m.set(0, 4096, piece(Buffer.alloc(4096, 1)));
    m.set(4096, 8192, piece(Buffer.alloc(4096, 2)));
    m.set(65536, 69632, piece(lone));
    const arena = Buffer.alloc(16384, 0xee);
    const asked: number[] = [];
    const out = toExtents(m, 4 * 1024 * 1024, (n) => (asked.push(n), arena.subarray(100, 100 + n)));
    expect(asked).toEqual([8192]);
    const [joined, single] = out;
    expect(joined?.kind === 'data' && joined.data.buffer === arena.buffer).toBe(true);
    expect(arena.subarray(100, 4196).every((b) => b === 1)).toBe(true);
    expect(arena.subarray(4196, 8292).every((b) => b === 2)).toBe(true);
    expect(
      single?.kind === 'data' && single.offset === 65536 && single.data.buffer === lone.buffer,
    ).toBe(true);
  });

  it('a part the caller will not have joined is an extent of its own, whole, between joined runs', () => {
    const m = new IntervalMap();
    const kept = Buffer.alloc(3 * 1024 * 1024, 5);
    const piece = (b: Buffer) => ({
      kind: 'data' as const,
      base: 0,
      read: (f: number, l: number) => b.subarray(f, f + l),
    });
    const MiB = 1024 * 1024;
    m.set(0, MiB, piece(Buffer.alloc(MiB, 1)));
    m.set(MiB, 2 * MiB, piece(Buffer.alloc(MiB, 2)));
    m.set(2 * MiB, 5 * MiB, piece(kept));
    m.set(5 * MiB, 6 * MiB, piece(Buffer.alloc(MiB, 3)));
    const out = toExtents(m, 4 * MiB, undefined, (b) => b.buffer !== kept.buffer);
    expect(out.map((e) => [e.offset, e.kind === 'data' ? e.data.length : 0])).toEqual([
      [0, 2 * MiB],
      [2 * MiB, 3 * MiB], // not cut to the 2 MiB the run before had left
      [5 * MiB, MiB],
    ]);
    const middle = out[1]!;
    expect(middle.kind === 'data' && middle.data.buffer === kept.buffer).toBe(true);
  });

  it('overflow: writes keep being acknowledged, the dirty bitmap is durable before the ack, the scan catches up, then journaling resumes', async () => {
    const dir = tempDir();
    const image = newImage(dir);
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({
      dir: jdir,
      capacityBytes: 256 * 1024,
      resumeBelowBytes: 128 * 1024,
      segmentBytes: 64 * 1024,
    });
    const s = WriteSplitter.open(j, 'd', image);
    const sock = join(dir, 's.sock');
    const server = new NbdServer({ exports: [{ name: 'd', device: s }], socketPath: sock });
    await server.listen();
    const source = new JournalChangeSource(j, { windowMs: 0 });
    const replica = join(dir, 'replica.img');
    copyFileSync(`${image}.initial`, replica);

    const q = new QemuIo(unixUri(sock));
    await q.ready();
    const ops = makeWorkload(11, 300, SIZE, dir);
    let overflowSeen = false;
    let bookmarkRefused = false;
    for (const [i, op] of ops.entries()) {
      const out = await q.cmd(qemuIoCommand(op));
      expect(out).not.toMatch(/error|fail/i);
      if (j.overflowed && !overflowSeen) {
        overflowSeen = true;
        // The bits are on disk: a fresh reader of the bitmap file sees them.
        const onDisk = readFileSync(join(jdir, 'dirty-d.bitmap'));
        expect(onDisk.subarray(16).some((b) => b !== 0)).toBe(true);
        // Every journaled record (up to the Overflow record, the last one) was made durable on
        // the disk before the unjournaled write, and the state says so: a host-crash redo
        // starts after it and never replays an older record over that write.
        const state = JSON.parse(readFileSync(join(jdir, 'state.json'), 'utf8')) as {
          diskSyncedLsn: number;
        };
        expect(state.diskSyncedLsn).toBe(j.lastLsn);
        // No bookmark while the history has a gap.
        expect(j.insertBookmark({ id: 'during-overflow', consistency: 'crash' })).toBeUndefined();
        bookmarkRefused = true;
      }
      if (i === 200) await drainAndCommit(source, replica); // the sender catches up once
    }
    await q.quit();
    await drainAndCommit(source, replica);
    expect(overflowSeen).toBe(true);
    expect(bookmarkRefused).toBe(true);
    expect(s.stats.overflowWrites).toBeGreaterThan(0);
    expect(source.stats.scannedBytes).toBeGreaterThan(0);
    expect(j.overflowed).toBe(false); // resumed once the sender caught up
    // Nothing was dropped: the replica built from journal + scans equals the disk.
    expect(sha256File(replica)).toBe(sha256File(image));
    await server.close();
    await source.close();
    await j.close();
    await s.close();
  }, 60_000);
  it('the change source ends when aborted while its consumer checkpoints (no hang)', async () => {
    const dir = tempDir();
    const image = newImage(dir);
    const j = MachineJournal.open({ dir: join(dir, 'j') });
    const s = WriteSplitter.open(j, 'd', image);
    const source = new JournalChangeSource(j, { windowMs: 0 });
    const ac = new AbortController();
    const it = source.changes(ac.signal)[Symbol.asyncIterator]();
    await s.write(0, Buffer.alloc(4096, 5), false);
    const first = await it.next();
    expect(first.value).toMatchObject({ kind: 'extent', offset: 0, length: 4096 });
    let r = await it.next();
    while (!r.done && r.value.kind !== 'idle') r = await it.next();
    source.committed(r.value!.pos);
    const cp = source.checkpoint();
    ac.abort();
    await cp;
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(j.releasedLsn).toBeGreaterThan(0);
    await source.close();
    await j.close();
    await s.close();
  });
});
