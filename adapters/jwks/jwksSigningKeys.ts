import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { SigningKeys } from '../../core/alerts/entraToken';

/**
 * The issuer's signing keys from its JWKS document (Entra ID:
 * `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`), cached; an unknown `kid`
 * refetches (keys roll over), at most once a minute.
 */
export function jwksSigningKeys(
  url: string,
  opts: { fetch?: typeof fetch; clock?: () => number } = {},
): SigningKeys {
  const get = opts.fetch ?? fetch;
  const clock = opts.clock ?? Date.now;
  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  const refresh = async () => {
    fetchedAt = clock();
    const res = await get(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`JWKS ${res.status}`);
    const body = (await res.json()) as { keys?: (JsonWebKey & { kid?: string })[] };
    const next = new Map<string, KeyObject>();
    for (const k of body.keys ?? []) {
      if (k.kty !== 'RSA' || !k.kid) continue;
      try {
        next.set(k.kid, createPublicKey({ key: k, format: 'jwk' }));
      } catch {
        // a key this runtime cannot read is simply not usable
      }
    }
    keys = next;
  };
  return async (kid) => {
    if (!kid) return undefined;
    if (!keys.has(kid) && clock() - fetchedAt > 60_000) await refresh().catch(() => undefined);
    return keys.get(kid);
  };
}
