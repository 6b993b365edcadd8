import { describe, expect, it } from 'vitest';
import {
  CONSOLE_TAIL_CHARS,
  CONSOLE_TAIL_LINES,
  consoleTail,
} from '../../../core/recovery/consoleTail';

describe('consoleTail: the end of a serial console a failed job carries', () => {
  it('keeps the last lines, without escape sequences, NULs or carriage returns', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const log = `\x00\x00${lines.join('\r\n')}\r\n\x1b[0;32mKernel panic\x1b[0m - not syncing\x07\n\n`;
    const tail = consoleTail(log)!;
    const kept = tail.split('\n');
    expect(kept).toHaveLength(CONSOLE_TAIL_LINES);
    expect(kept.at(-1)).toBe('Kernel panic - not syncing');
    expect(kept[0]).toBe(`line ${50 - CONSOLE_TAIL_LINES + 1}`);
    expect([...tail].every((c) => c === '\n' || (c >= ' ' && c !== '\x7f'))).toBe(true);
  });

  it('bounds the characters too (one very long line)', () => {
    const tail = consoleTail(`start ${'x'.repeat(10_000)}end`)!;
    expect(tail).toHaveLength(CONSOLE_TAIL_CHARS);
    expect(tail.endsWith('xend')).toBe(true);
  });

  it('nothing printable: undefined', () => {
    expect(consoleTail(undefined)).toBeUndefined();
    expect(consoleTail('')).toBeUndefined();
    expect(consoleTail('\x00\x00\r\n \n')).toBeUndefined();
  });
});
