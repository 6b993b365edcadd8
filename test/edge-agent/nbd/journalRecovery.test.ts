import { describe, expect, it } from 'vitest';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { INTENT_REGION } from '../../../edge-agent/journal/journalTypes';
import { replayJournal } from '../../../edge-agent/journal/replay';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { sha256File } from '../../../local/images/ext4';
import { drainAndCommit, tempDir } from './helpers';
import { SIZE, newImage, splitterOnNewImage } from './journalSupport';

/** Restarts after kill -9 (same boot): the journal recovers and the splitter redoes its tail. */
function restartAfterKill(jdir: string, image: string) {
  const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
  expect(j.recovery).toBe('process-crash');
  return { j, s: WriteSplitter.open(j, 'd', image) };
}

/** Journal ⊇ image: replaying the whole journal onto the initial image gives the image. */
function expectJournalExplainsImage(j: MachineJournal, initial: string, image: string): void {
  const replica = `${image}.replayed`;
  copyFileSync(initial, replica);
  replayJournal(j, 'd', replica);
  expect(sha256File(replica)).toBe(sha256File(image));
}

/** A sparse image of `regions` intent regions (zeroes). */
function sparseImage(dir: string, regions: number): string {
  const image = join(dir, 'big.img');
  writeFileSync(image, '');
  truncateSync(image, regions * INTENT_REGION);
  return image;
}

describe('machine journal', () => {
  it('is readable by its owner only (a 0700 directory, 0600 files), even where it was 0755', async () => {
    const dir = join(tempDir(), 'journal');
    mkdirSync(dir, { mode: 0o755 });
    const j = MachineJournal.open({ dir, machineId: 'm-perm' });
    j.appendWrite(j.registerDisk('d', 1024 * 1024, '/dev/null').index, 0, Buffer.alloc(512, 1));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o077).toBe(0);
    await j.close();
  });

  it('cuts a torn tail and re-applies the last change after a process crash', async () => {
    const { image, jdir, j, s } = await splitterOnNewImage(tempDir());
    // A crash between the journal append and the image write: append only.
    j.appendWrite(s.disk.index, 8192, Buffer.alloc(4096, 2));
    // …and a torn record after it.
    const seg = readdirSync(jdir).find((n) => n.startsWith('seg-'))!;
    const before = statSync(join(jdir, seg)).size;
    appendFileSync(join(jdir, seg), Buffer.from('HVJ1 torn record'));
    await s.close();
    // (no close(): the state still says "open", as after kill -9)

    const { j: j2, s: s2 } = restartAfterKill(jdir, image);
    expect(statSync(join(jdir, seg)).size).toBeGreaterThanOrEqual(before);
    const img = readFileSync(image);
    expect(img.subarray(8192, 12288).every((b) => b === 2)).toBe(true); // redone
    expectJournalExplainsImage(j2, `${image}.initial`, image);
    await s2.close();
  });

  it('a corked batch journaled but not yet on the image is re-applied whole after a process crash', async () => {
    const { image, jdir, j, s } = await splitterOnNewImage(tempDir());
    // One socket read's worth of writes (corked): the journal gets them in one writev at
    // uncork, the image only after it. Crash in between: journal batch written, image not.
    s.cork();
    const writes = Array.from({ length: 20 }, (_, i) => ({
      offset: (2 + ((i * 7) % 40)) * 4096,
      data: Buffer.alloc(4096, 10 + i),
    }));
    for (const w of writes) expect(s.write(w.offset, w.data, false)).toBeUndefined();
    expect(j.lastLsn).toBeGreaterThan(20);
    j.flushBatch();
    s['writes']['queued'] = []; // the image writes never happen (process killed)
    await s.close();
    expect(
      readFileSync(image)
        .subarray(2 * 4096, 3 * 4096)
        .every((b) => b === 10),
    ).toBe(false);

    const { j: j2, s: s2 } = restartAfterKill(jdir, image);
    expect(j2.redo.length).toBe(21);
    const img = readFileSync(image);
    const want = readFileSync(`${image}.initial`);
    want.fill(1, 0, 4096);
    for (const w of writes) w.data.copy(want, w.offset);
    expect(img.equals(want)).toBe(true);
    expectJournalExplainsImage(j2, `${image}.initial`, image);
    await s2.close();
  });

  it('while corked, a FUA write and a zeroing are in the journal file before they touch the image', async () => {
    const dir = tempDir();
    const { image, jdir, s } = await splitterOnNewImage(dir);
    // A kill -9 right after each call returns: the files as they are at that moment.
    const crashes: Array<() => void | Promise<void>> = [
      () => s.write(8192, Buffer.alloc(4096, 7), true),
      () => s.writeZeroes(16384, 8192, false),
    ];
    for (const [i, change] of crashes.entries()) {
      s.cork();
      const pending = change();
      const at = join(dir, `crash-${i}`);
      cpSync(jdir, join(at, 'j'), { recursive: true });
      copyFileSync(image, join(at, 'disk.img'));
      s.uncork();
      await pending;

      const { j: j2, s: s2 } = restartAfterKill(join(at, 'j'), join(at, 'disk.img'));
      expectJournalExplainsImage(j2, `${image}.initial`, join(at, 'disk.img'));
      await s2.close();
      await j2.close();
    }
    await s.close();
  });

  it('after a host crash (boot id changed while open) only the regions written since their last FLUSH are resynced', async () => {
    const dir = tempDir();
    const R = INTENT_REGION;
    const image = sparseImage(dir, 4);
    const replica = join(dir, 'replica.img');
    copyFileSync(image, replica); // the replica had the disk as it was (zeroes)
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
    const s = WriteSplitter.open(j, 'd', image, { intentLingerMs: 0 });
    await s.write(0, Buffer.alloc(4096, 1), false); // first write to a region waits for the intent
    await s.write(R + 8192, Buffer.alloc(4096, 2), false);
    await s.flush(); // regions 0 and 1 are consistent now
    expect(j.intent(s.disk.index).setBlocks()).toEqual([]);
    await s.write(2 * R + 512, Buffer.alloc(1024, 3), false); // not flushed
    expect(j.intent(s.disk.index).setBlocks()).toEqual([2]);
    // Host crash: an image write the journal never got (its record was lost with the cache).
    const fd = openSync(image, 'r+');
    writeSync(fd, Buffer.alloc(512, 9), 0, 512, 2 * R + 4096);
    closeSync(fd);
    await s.close(); // no journal close: the state still says "open"

    const j2 = MachineJournal.open({ dir: jdir, bootId: 'boot-2' });
    expect(j2.recovery).toBe('host-crash');
    const s2 = WriteSplitter.open(j2, 'd', image);
    const bm = j2.bitmap(s2.disk.index);
    expect(bm.dirtyCount()).toBe(R / 65536); // region 2 only, not the whole disk
    const source = new JournalChangeSource(j2, { windowMs: 0 });
    await drainAndCommit(source, replica);
    expect(source.stats.scannedBytes).toBe(R);
    expect(sha256File(replica)).toBe(sha256File(image));
    expect(bm.dirtyCount()).toBe(0); // forgotten once checkpointed
    await source.close();
    await j2.close();
    await s2.close();
  });

  it('a region written between FLUSHes keeps its intent mark while it is busy (no re-mark per FLUSH)', async () => {
    const dir = tempDir();
    const image = sparseImage(dir, 2);
    const j = MachineJournal.open({ dir: join(dir, 'j'), bootId: 'boot-1' });
    const s = WriteSplitter.open(j, 'd', image, { intentLingerMs: 60_000 });
    const intent = j.intent(s.disk.index);
    for (let i = 0; i < 4; i++) {
      await s.write(i * 4096, Buffer.alloc(4096, i + 1), false);
      await s.flush();
      expect(intent.setBlocks()).toEqual([0]); // still marked: written less than a linger ago
    }
    // The mark costs one intent sync, not one per FLUSH: only the first write waited for it.
    expect(intent['commit'].syncs).toBe(1);
    await j.close();
    await s.close();
  });

  it('a write near the end of a region marks the next one ahead, so a sequential stream does not stall there', async () => {
    const dir = tempDir();
    const R = INTENT_REGION;
    const image = sparseImage(dir, 3);
    const j = MachineJournal.open({ dir: join(dir, 'j'), bootId: 'boot-1' });
    const s = WriteSplitter.open(j, 'd', image, { intentLingerMs: 60_000 });
    const intent = j.intent(s.disk.index);
    await s.write(R / 2, Buffer.alloc(4096, 1), false);
    expect(intent.setBlocks()).toEqual([0]); // mid-region: this one only
    await s.write(R - 8192, Buffer.alloc(4096, 2), false);
    expect(intent.setBlocks()).toEqual([0, 1]); // the last quarter: the next one too
    const syncs = intent['commit'].syncs;
    // Once that mark is durable, the stream's first write in region 1 runs at once.
    await new Promise((r) => setTimeout(r, 50));
    const w = s.write(R, Buffer.alloc(4096, 3), false);
    expect(w).toBeUndefined(); // answered in the turn: no intent sync to wait for
    expect(intent['commit'].syncs).toBe(syncs);
    // The last region has no next one.
    await s.write(3 * R - 4096, Buffer.alloc(4096, 4), false);
    expect(intent.setBlocks()).toEqual([0, 1, 2]);
    await j.close();
    await s.close();
  });

  it('journal loss (state gone, segments left) resyncs every disk from its image', async () => {
    const dir = tempDir();
    const image = newImage(dir);
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
    await WriteSplitter.open(j, 'd', image).write(0, Buffer.alloc(4096, 7), false);
    rmSync(join(jdir, 'state.json'));
    const j2 = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
    expect(j2.recovery).toBe('journal-lost');
    const s2 = WriteSplitter.open(j2, 'd', image);
    expect(j2.bitmap(s2.disk.index).dirtyCount()).toBe(SIZE / 65536);
    const replica = join(dir, 'replica.img');
    writeFileSync(replica, Buffer.alloc(SIZE));
    const source = new JournalChangeSource(j2, { windowMs: 0 });
    await drainAndCommit(source, replica);
    expect(sha256File(replica)).toBe(sha256File(image));
    await source.close();
    await j2.close();
    await s2.close();
  });
});
