import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** Secrets: 32 random bytes, base64url (no '.', so they fit `prefix.id.secret` strings). */
export const newSecret = (): string => randomBytes(32).toString('base64url');

/** Short random id with a readable prefix, e.g. `m-3f9c…`. No '.', safe in blob paths and Cosmos ids. */
export const newId = (prefix: string): string =>
  `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 20)}`;

export const sha256Hex = (s: string): string =>
  createHash('sha256').update(s, 'utf8').digest('hex');

/** Compares a presented secret with a stored sha256 in constant time. */
export function secretMatches(secret: string, storedHashHex: string): boolean {
  const a = createHash('sha256').update(secret, 'utf8').digest();
  const b = Buffer.from(storedHashHex, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `<kind>.<id>.<secret>`: hvm for machine credentials, hvt for enrollment tokens. */
export function formatCredential(kind: 'hvm' | 'hvt', id: string, secret: string): string {
  return `${kind}.${id}.${secret}`;
}

export function parseCredential(
  kind: 'hvm' | 'hvt',
  value: string | null | undefined,
): { id: string; secret: string } | undefined {
  if (!value) return undefined;
  const parts = value.split('.');
  if (parts.length !== 3 || parts[0] !== kind) return undefined;
  const [, id, secret] = parts as [string, string, string];
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id) || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
  return { id, secret };
}
