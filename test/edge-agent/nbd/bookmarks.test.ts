import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { replayJournal, applyExtents } from '../../../edge-agent/journal/replay';
import { NbdServer } from '../../../edge-agent/nbd/server';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import type { ChangeRecord } from '../../../edge-agent/changeSource';
import { sha256File } from '../../../local/images/ext4';
import { tempDir, unixUri } from './helpers';
import { QemuIo } from './qemuIo';
import { digestsAfter, isChange, makeWorkload, prng, qemuIoCommand, type Op } from './workload';

const SIZE = 8 * 1024 * 1024;

interface Cut {
  id: string;
  /** Change ops journaled (= acknowledged, see below) on each disk when the bookmark was cut. */
  k: number[];
}

function makeInitialImage(path: string, seed: number): Buffer {
  // Some non-zero initial content so replay must start from a copy of the real initial state.
  const rnd = prng(seed);
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < 64; i++) {
    const off = Math.floor(rnd() * (SIZE / 4096 - 4)) * 4096;
    randomBytes(8192).copy(b, off);
  }
  writeFileSync(path, b);
  return b;
}

/** Drains the journal through the coalescing change source until it reports idle. */
async function drain(source: JournalChangeSource): Promise<ChangeRecord[]> {
  const ac = new AbortController();
  const out: ChangeRecord[] = [];
  for await (const r of source.changes(ac.signal)) {
    if (r.kind === 'idle') {
      if (source.journal.lastLsn < source.readLsn) break;
      continue;
    }
    out.push(r);
  }
  ac.abort();
  return out;
}

async function runWorkload(opts: { disks: number; opsPerDisk: number; seed: number }) {
  const dir = tempDir();
  const journal = MachineJournal.open({
    dir: join(dir, 'journal'),
    machineId: 'm-bm',
    segmentBytes: 1024 * 1024,
  });
  const disks = Array.from({ length: opts.disks }, (_, i) => {
    const image = join(dir, `disk${i}.img`);
    const initial = makeInitialImage(image, opts.seed + i);
    copyFileSync(image, join(dir, `disk${i}.initial`));
    const splitter = WriteSplitter.open(journal, `disk${i}`, image);
    const ops = makeWorkload(opts.seed * 10 + i, opts.opsPerDisk, SIZE, dir);
    return { i, image, initial, splitter, ops, socket: join(dir, `d${i}.sock`) };
  });
  const servers = disks.map(
    (d) =>
      new NbdServer({
        exports: [{ name: `disk${d.i}`, device: d.splitter }],
        socketPath: d.socket,
      }),
  );
  for (const s of servers) await s.listen();
  const source = new JournalChangeSource(journal, { windowMs: 0, maxWindowBytes: 1024 * 1024 });

  // Every change op through a non-FUA path is journaled, applied and answered in one event-loop
  // turn, so at the moment a bookmark is appended the journaled count equals the acknowledged
  // count (a FUA write can be journaled but still waiting for its sync: it is in the cut).
  const changesOf = (s: WriteSplitter) => s.stats.writes + s.stats.zeroes;
  const cuts: Cut[] = [];
  let running = true;
  const rnd = prng(opts.seed + 99);
  // A cut at a random moment while the writes stream, but only once a few more changes were
  // acknowledged since the last one: a slow (loaded) machine then makes no more cuts than a fast
  // one, and two cuts of the same state would prove nothing more.
  const changesNow = () => disks.reduce((a, d) => a + changesOf(d.splitter), 0);
  const cutter = (async () => {
    let n = 0;
    let last = -1;
    while (running) {
      const gap = 1 + Math.floor(rnd() * 6);
      while (running && changesNow() < last + gap) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, 1 + Math.floor(rnd() * 15)));
      if (!running) break;
      last = changesNow();
      const id = `bm-${n++}`;
      const k = disks.map((d) => changesOf(d.splitter));
      await source.requestBookmark({ id, consistency: 'crash' });
      cuts.push({ id, k });
    }
  })();

  await Promise.all(
    disks.map(async (d) => {
      const q = new QemuIo(unixUri(d.socket));
      await q.ready();
      for (const op of d.ops) {
        const out = await q.cmd(qemuIoCommand(op));
        if (/error|fail/i.test(out)) throw new Error(`${qemuIoCommand(op)}: ${out}`);
      }
      await q.quit();
    }),
  );
  running = false;
  await cutter;
  await source.requestBookmark({ id: 'final', consistency: 'crash' });
  cuts.push({ id: 'final', k: disks.map((d) => changesOf(d.splitter)) });
  for (const s of servers) await s.close();
  return { dir, journal, disks, cuts, source };
}

/**
 * The journal replayed onto a copy of the initial image up to each cut in turn: the image at a
 * cut is the one at the cut before plus the records between the two, so each step replays only
 * those (from scratch per cut cost O(cuts × journal), and the cuts are many when the machine is
 * slow). Yields each cut's replay result and the image's sha256 there.
 */
function* replayEachCut(
  journal: MachineJournal,
  diskId: string,
  dir: string,
  initial: string,
  cuts: Cut[],
): Generator<{ cut: Cut; r: ReturnType<typeof replayJournal>; sha: string }> {
  const img = join(dir, `replay-${diskId}.img`);
  copyFileSync(join(dir, initial), img);
  let fromLsn: number | undefined;
  for (const cut of cuts) {
    const r = replayJournal(journal, diskId, img, { untilBookmarkId: cut.id, fromLsn });
    fromLsn = r.lastLsn + 1;
    yield { cut, r, sha: sha256File(img) };
  }
}

function expectedDigests(
  initial: Buffer,
  ops: Op[],
  cuts: Cut[],
  disk: number,
): Map<number, string> {
  return digestsAfter(
    initial,
    ops,
    cuts.map((c) => c.k[disk]!),
  );
}

describe('write splitter: bookmarks are crash-consistent by construction', () => {
  it('replaying the journal to each bookmark gives exactly the writes acknowledged before it (qemu-io, random cuts)', async () => {
    const { dir, journal, disks, cuts, source } = await runWorkload({
      disks: 1,
      opsPerDisk: 400,
      seed: 7,
    });
    const d = disks[0]!;
    expect(cuts.length).toBeGreaterThan(5);
    // Cuts landed at different points of the stream, not all at the start or end.
    const ks = new Set(cuts.map((c) => c.k[0]));
    expect(ks.size).toBeGreaterThan(3);
    const expected = expectedDigests(d.initial, d.ops, cuts, 0);
    const total = d.ops.filter(isChange).length;
    expect(cuts[cuts.length - 1]!.k[0]).toBe(total);

    for (const { cut, r, sha } of replayEachCut(journal, 'disk0', dir, 'disk0.initial', cuts)) {
      expect(r.bookmark?.id).toBe(cut.id);
      expect(sha, `bookmark ${cut.id} after ${cut.k[0]} writes`).toBe(expected.get(cut.k[0]!));
    }
    // The source image itself equals the model after all writes.
    expect(sha256File(d.image)).toBe(expected.get(total));

    // The coalescing change source: applying its extents in order and checking at every
    // bookmark gives the same states, with fewer bytes than were written.
    const records = await drain(source);
    const img = join(dir, 'coalesced.img');
    copyFileSync(join(dir, 'disk0.initial'), img);
    const seen: string[] = [];
    for (const r of records) {
      if (r.kind === 'extent') {
        applyExtents(img, [
          r.data
            ? { kind: 'data', offset: r.offset, data: r.data }
            : { kind: 'zero', offset: r.offset, length: r.length },
        ]);
      } else if (r.kind === 'bookmark') {
        const cut = cuts.find((c) => c.id === r.id)!;
        expect(sha256File(img), `coalesced at ${r.id}`).toBe(expected.get(cut.k[0]!));
        seen.push(r.id);
      }
    }
    expect(seen).toEqual(cuts.map((c) => c.id));
    const written = d.ops.reduce((a, o) => a + (o.kind === 'write' ? o.length : 0), 0);
    expect(source.stats.dataBytes).toBeLessThan(written);
    expect(source.stats.coalescedBytes).toBeGreaterThan(0);
    await source.close();
    await journal.close();
  }, 120_000);

  it('one bookmark covers every disk of the machine atomically (two disks, concurrent clients)', async () => {
    const { dir, journal, disks, cuts } = await runWorkload({
      disks: 2,
      opsPerDisk: 200,
      seed: 21,
    });
    expect(cuts.length).toBeGreaterThan(3);
    for (const d of disks) {
      const expected = expectedDigests(d.initial, d.ops, cuts, d.i);
      for (const { cut, r, sha } of replayEachCut(
        journal,
        `disk${d.i}`,
        dir,
        `disk${d.i}.initial`,
        cuts,
      )) {
        expect(r.bookmark?.id).toBe(cut.id);
        expect(sha, `disk${d.i} at ${cut.id}`).toBe(expected.get(cut.k[d.i]!));
      }
    }
    // Both disks were being written while cuts were taken (not one idle while the other ran).
    const mixed = cuts.filter((c) => c.k[0]! > 0 && c.k[0]! < 180 && c.k[1]! > 0 && c.k[1]! < 180);
    expect(mixed.length).toBeGreaterThan(0);
    expect(readFileSync(disks[0]!.image).length).toBe(SIZE);
    await journal.close();
  }, 120_000);

  it('a bookmark reaches the stream without waiting for the batch window (its records go out anyway)', async () => {
    const dir = tempDir();
    const journal = MachineJournal.open({ dir: join(dir, 'journal'), machineId: 'm-win' });
    const image = join(dir, 'disk.img');
    writeFileSync(image, Buffer.alloc(SIZE));
    const splitter = WriteSplitter.open(journal, 'disk0', image);
    // A window far longer than the test's timeout: only skipping it lets the bookmark through.
    const source = new JournalChangeSource(journal, { windowMs: 10 * 60_000 });
    const ac = new AbortController();
    const seen: ChangeRecord[] = [];
    const reading = (async () => {
      for await (const r of source.changes(ac.signal)) {
        if (r.kind === 'idle' && seen.length === 0) {
          // Caught up and waiting: now a write and a bookmark arrive together.
          await splitter.write(4096, Buffer.alloc(4096, 7), false); // the intent mark may defer it
          await source.requestBookmark({ id: 'bm-now', consistency: 'crash' });
        }
        if (r.kind !== 'idle') seen.push(r);
        if (r.kind === 'bookmark') break;
      }
    })();
    await reading;
    ac.abort();
    expect(seen.map((r) => r.kind)).toEqual(['extent', 'bookmark']);
    expect(seen[0]).toMatchObject({ offset: 4096, length: 4096 });
    await source.close();
    await journal.close();
  }, 30_000);
});
