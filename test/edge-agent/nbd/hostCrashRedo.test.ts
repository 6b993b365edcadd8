import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { sha256File } from '../../../local/images/ext4';
import { drainAndCommit, tempDir } from './helpers';

const SIZE = 4 * 1024 * 1024;
const KiB = 1024;

function newImage(dir: string): { image: string; initial: string } {
  const image = join(dir, 'disk.img');
  writeFileSync(image, randomBytes(SIZE));
  copyFileSync(image, `${image}.initial`);
  return { image, initial: `${image}.initial` };
}

function stateOf(jdir: string): { diskSyncedLsn?: number; releasedLsn: number } {
  return JSON.parse(readFileSync(join(jdir, 'state.json'), 'utf8')) as {
    diskSyncedLsn?: number;
    releasedLsn: number;
  };
}

/**
 * The journal is the write-ahead log (rule 3): a FLUSH syncs the journal only and the disk is
 * synced lazily. A host crash loses the disk's unsynced writes; the restart redoes them from the
 * journal before the disk is served, so every FLUSHed write is on the disk again.
 */
describe('host crash with unsynced disk writes (journal as write-ahead log)', () => {
  it('the disk gets every FLUSHed write back from the journal; the replica equals it', async () => {
    const dir = tempDir();
    const { image, initial } = newImage(dir);
    const replica = join(dir, 'replica.img');
    copyFileSync(initial, replica);
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
    const s = WriteSplitter.open(j, 'd', image);
    const writes = 40;
    for (let i = 0; i < writes; i++) {
      const off = ((i * 7919) % (SIZE / (4 * KiB))) * 4 * KiB;
      await s.write(off, randomBytes(4 * KiB), false);
    }
    await s.writeZeroes(64 * KiB, 8 * KiB, false);
    await s.write(1000 * KiB, randomBytes(8 * KiB), true); // FUA
    await s.flush();
    // Only the journal was synced: the disk copy is not durable yet.
    expect(s['image'].syncs).toBe(0);
    const flushed = sha256File(image);

    // Host crash: the page cache is gone, the disk is back to what it held durably.
    copyFileSync(initial, image);
    const j2 = MachineJournal.open({ dir: jdir, bootId: 'boot-2' });
    expect(j2.recovery).toBe('host-crash');
    const s2 = WriteSplitter.open(j2, 'd', image);
    expect(s2.stats.redone).toBe(writes + 2);
    expect(sha256File(image)).toBe(flushed);
    // The replica (journal records, then the intent regions from the disk) equals the disk.
    const source = new JournalChangeSource(j2, { windowMs: 0 });
    await drainAndCommit(source, replica);
    expect(sha256File(replica)).toBe(flushed);
    await source.close();
    await j2.close();
    await s2.close();
    // A clean close synced the disk: the next start redoes nothing.
    expect(stateOf(jdir).diskSyncedLsn).toBe(j2.lastLsn);
  });

  it('segments are dropped only once a disk sync covers them; the redo starts after it', async () => {
    const dir = tempDir();
    const { image } = newImage(dir);
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({
      dir: jdir,
      bootId: 'boot-1',
      segmentBytes: 64 * KiB,
      diskSyncLagBytes: 128 * KiB,
    });
    const s = WriteSplitter.open(j, 'd', image);
    const source = new JournalChangeSource(j, { windowMs: 0 });
    const sink = join(dir, 'sink.img');
    copyFileSync(image, sink);
    for (let i = 0; i < 8; i++) await s.write(i * 16 * KiB, randomBytes(16 * KiB), false);
    await s.flush();
    await drainAndCommit(source, sink);
    // Released, but fewer than diskSyncLagBytes held back: kept, no disk sync yet.
    expect(s['image'].syncs).toBe(0);
    expect(j.segmentList()[0]!.firstLsn).toBe(1);
    for (let i = 0; i < 16; i++) await s.write(i * 16 * KiB, randomBytes(16 * KiB), false);
    await s.flush();
    await drainAndCommit(source, sink);
    // Enough held back: the disk was synced, then the segments went.
    expect(s['image'].syncs).toBe(1);
    const synced = stateOf(jdir).diskSyncedLsn!;
    expect(synced).toBeGreaterThan(1);
    expect(j.segmentList()[0]!.firstLsn).toBeLessThanOrEqual(synced + 1);
    expect(j.segmentList()[0]!.firstLsn).toBeGreaterThan(1);
    for (let i = 0; i < 3; i++) await s.write(i * 4 * KiB, randomBytes(4 * KiB), false);
    await s.flush();
    await source.close();
    await s.close(); // the state still says "open": a host crash now redoes only what follows
    const j2 = MachineJournal.open({ dir: jdir, bootId: 'boot-2' });
    expect(j2.releases.hostCrashRedoFrom()).toBe(synced + 1);
    const s2 = WriteSplitter.open(j2, 'd', image);
    expect(s2.stats.redone).toBe(3); // the writes after the disk sync only
    await j2.close();
    await s2.close();
  });

  it('a journal left by a version that synced the disks at every FLUSH (no diskSyncedLsn) is not redone', async () => {
    const dir = tempDir();
    const { image } = newImage(dir);
    const jdir = join(dir, 'j');
    const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
    const s = WriteSplitter.open(j, 'd', image);
    await s.write(0, randomBytes(4 * KiB), false);
    await s.flush();
    await s.close();
    const { diskSyncedLsn, ...old } = stateOf(jdir);
    expect(diskSyncedLsn).toBe(0); // a new journal says so from its first open
    writeFileSync(join(jdir, 'state.json'), JSON.stringify(old));
    const j2 = MachineJournal.open({ dir: jdir, bootId: 'boot-2' });
    expect(j2.recovery).toBe('host-crash');
    expect(j2.releases.hostCrashRedoFrom()).toBe(j.lastLsn + 1);
    const s2 = WriteSplitter.open(j2, 'd', image);
    expect(s2.stats.redone).toBe(0);
    await j2.close();
    await s2.close();
  });
});
