import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { describe, expect, it } from 'vitest';
import { CachedToken } from '../../../adapters/identity/cachedToken';

const MIN = 60_000;

/** A credential handing out `tok-1`, `tok-2`, … valid for an hour, or failing when told to. */
function credential(clock: () => number) {
  const c = { asked: 0, failing: false };
  const cred: TokenCredential = {
    getToken: async (): Promise<AccessToken> => {
      c.asked++;
      if (c.failing) throw new Error('identity endpoint down');
      return { token: `tok-${c.asked}`, expiresOnTimestamp: clock() + 60 * MIN };
    },
  };
  return { c, cred };
}

describe('CachedToken', () => {
  it('keeps a token until five minutes before it expires, then renews it', async () => {
    let now = 0;
    const { c, cred } = credential(() => now);
    const t = new CachedToken(cred, 'scope', () => now);
    expect(await t.get()).toBe('tok-1');
    now = 54 * MIN;
    expect(await t.get()).toBe('tok-1');
    now = 56 * MIN;
    expect(await t.get()).toBe('tok-2');
    expect(c.asked).toBe(2);
  });

  it('asks once for callers that come while it renews', async () => {
    const now = 0;
    const { c, cred } = credential(() => now);
    const t = new CachedToken(cred, 'scope', () => now);
    expect(await Promise.all([t.get(), t.get(), t.get()])).toEqual(['tok-1', 'tok-1', 'tok-1']);
    expect(c.asked).toBe(1);
  });

  it('uses a still valid token when renewing fails, and fails once none is valid', async () => {
    let now = 0;
    const { c, cred } = credential(() => now);
    const t = new CachedToken(cred, 'scope', () => now);
    await t.get();
    c.failing = true;
    now = 58 * MIN;
    expect(await t.get()).toBe('tok-1');
    now = 61 * MIN;
    await expect(t.get()).rejects.toThrow('identity endpoint down');
    c.failing = false;
    expect(await t.get()).toBe('tok-4');
  });
});
