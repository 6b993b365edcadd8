import { createHmac, timingSafeEqual } from 'node:crypto';

/** A SharedAccessSignature token's fields, as sent in a `$cbs` put-token. */
export interface SasToken {
  /** The resource URI, decoded (e.g. `sb://host/haven-batches/publishers/m1`). */
  resource: string;
  /** The `sr` field exactly as it appears in the token (URL-encoded). */
  rawResource: string;
  signature: string;
  expiry: number;
  keyName: string;
}

export function parseSasToken(token: string): SasToken | undefined {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn || !/^\d+$/.test(se)) return undefined;
  try {
    return {
      resource: decodeURIComponent(sr),
      rawResource: sr,
      signature: decodeURIComponent(sig),
      expiry: Number(se),
      keyName: decodeURIComponent(skn),
    };
  } catch {
    return undefined;
  }
}

function sign(key: string, resourceEncoded: string, expiry: number): Buffer {
  return createHmac('sha256', key).update(`${resourceEncoded}\n${expiry}`).digest();
}

/**
 * True when the token is signed with `key`. Azure signs `encodeURIComponent(lower-cased uri)`;
 * the Azure SDK signs the audience as given (e.g. with `$Default`), so both spellings are accepted.
 */
export function verifySasSignature(token: SasToken, key: string): boolean {
  let given: Buffer;
  try {
    given = Buffer.from(token.signature, 'base64');
  } catch {
    return false;
  }
  const candidates = new Set([
    token.rawResource,
    encodeURIComponent(token.resource),
    encodeURIComponent(token.resource.toLowerCase()),
  ]);
  for (const c of candidates) {
    const expected = sign(key, c, token.expiry);
    if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
  }
  return false;
}

/** Creates a SAS token the way Azure documents it (lower-cased, URL-encoded resource URI). */
export function createSasToken(
  resource: string,
  keyName: string,
  key: string,
  expiresAtEpochSeconds: number,
): string {
  const sr = encodeURIComponent(resource.toLowerCase());
  const sig = sign(key, sr, expiresAtEpochSeconds).toString('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiresAtEpochSeconds}&skn=${encodeURIComponent(keyName)}`;
}
