import { describe, expect, it } from 'vitest';
import { completeLines } from './completeLines';

describe('completeLines', () => {
  it('drops a last line caught half written, keeps every line ended by its newline', () => {
    expect(completeLines('{"a":1}\n{"b":2}\n{"c":')).toEqual(['{"a":1}', '{"b":2}']);
    expect(completeLines('{"a":1}\n\n{"b":2}\n')).toEqual(['{"a":1}', '{"b":2}']);
    expect(completeLines('{"a"')).toEqual([]);
    expect(completeLines('')).toEqual([]);
  });
});
