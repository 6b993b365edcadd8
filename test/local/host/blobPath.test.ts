import { describe, expect, it } from 'vitest';
import { parseBlobPath } from '../../../local/host/blobPath';

describe('blob paths', () => {
  it('splits the container and matches segments, the last parameter taking the rest', () => {
    const p = parseBlobPath('Staging/{machine}/{rest}');
    expect(p.container).toBe('staging');
    expect(p.prefix).toBe('');
    expect(p.match('m1/d1/1/000000000001')).toEqual({ machine: 'm1', rest: 'd1/1/000000000001' });
    expect(p.match('m1')).toBeUndefined();
    const q = parseBlobPath('in/pre-{name}.json');
    expect(q.prefix).toBe('pre-');
    expect(q.match('pre-x.json')).toEqual({ name: 'x' });
    expect(q.match('pre-x.txt')).toBeUndefined();
    expect(parseBlobPath('c').match('any/thing')).toEqual({ name: 'any/thing' });
  });
});
