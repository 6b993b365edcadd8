import { describe, expect, it } from 'vitest';
import { ClientCache } from '../../../adapters/blobs/clientCache';

describe('ClientCache', () => {
  it('builds a client once per name and keeps at most max, dropping the oldest', () => {
    const cache = new ClientCache<{ name: string }>(2);
    let built = 0;
    const make = (name: string) => () => ({ name: `${name}#${++built}` });
    const a = cache.get('a', make('a'));
    expect(cache.get('a', make('a'))).toBe(a);
    cache.get('b', make('b'));
    cache.get('c', make('c')); // drops a, the oldest
    expect(built).toBe(3);
    expect(cache.get('b', make('b')).name).toBe('b#2');
    expect(cache.get('a', make('a')).name).toBe('a#4');
  });
});
