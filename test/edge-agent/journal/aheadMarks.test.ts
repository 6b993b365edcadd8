import { describe, expect, it } from 'vitest';
import { openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { AheadMarks } from '../../../edge-agent/journal/aheadMarks';
import { tempDir } from '../nbd/helpers';

const mark = (lsn: number, offset = lsn * 4096, length = 4096, diskIndex = 0) => ({
  diskIndex,
  lsn,
  offset,
  length,
});

describe('marks of image writes issued ahead of their journal records', () => {
  it('a crash finds exactly the marks past the last record, oldest first', () => {
    const dir = tempDir();
    const m = AheadMarks.open(dir);
    expect(m.mark(mark(12, 0, 1 << 20, 1), 9)).toBe(true);
    expect(m.mark(mark(10), 9)).toBe(true);
    expect(m.mark(mark(11), 9)).toBe(true);
    m.close();
    // Records up to 10 were found: the writes of 11 and 12 were lost with the crash.
    expect(AheadMarks.lost(dir, 10)).toEqual([mark(11), mark(12, 0, 1 << 20, 1)]);
    expect(AheadMarks.lost(dir, 12)).toEqual([]);
  });

  it('a write covering several records is marked with the first one not in the file', () => {
    const dir = tempDir();
    const m = AheadMarks.open(dir);
    expect(m.mark(mark(3, 0, 3 * 4096), 4)).toBe(true); // records 3..7, 3 and 4 written
    m.close();
    expect(AheadMarks.lost(dir, 4)).toEqual([mark(5, 0, 3 * 4096)]);
  });

  it('never overwrites a live mark: the write must wait for its record instead', () => {
    const dir = tempDir();
    const m = AheadMarks.open(dir);
    const slots = statSync(join(dir, 'ahead.marks')).size / 64;
    expect(m.mark(mark(5), 4)).toBe(true);
    // Same slot, while record 5 is still not in the file: refused.
    expect(m.mark(mark(5 + slots), 4)).toBe(false);
    expect(AheadMarks.lost(dir, 4)).toEqual([mark(5)]);
    // Once record 5 is written, its slot can be reused.
    expect(m.mark(mark(5 + slots), 5)).toBe(true);
    expect(AheadMarks.lost(dir, 5)).toEqual([mark(5 + slots)]);
    m.close();
  });

  it('garbage or a torn slot is no mark; opening empties the file; no file, no marks', () => {
    const dir = tempDir();
    expect(AheadMarks.lost(dir, 0)).toEqual([]);
    const m = AheadMarks.open(dir);
    m.mark(mark(1), 0);
    m.mark(mark(2), 0);
    m.close();
    const fd = openSync(join(dir, 'ahead.marks'), 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, 2 * 64 + 20); // inside the mark of record 2
    closeSync(fd);
    expect(AheadMarks.lost(dir, 0)).toEqual([mark(1)]);
    AheadMarks.open(dir).close();
    expect(readFileSync(join(dir, 'ahead.marks')).every((b) => b === 0)).toBe(true);
  });
});
