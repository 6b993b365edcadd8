import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { forbidden, unauthenticated } from '../errors';

/**
 * Azure Monitor's Secure Webhook: the action group sends an Entra ID access token for the
 * app registration that fronts the endpoint. Checked here: signature (RS256, the issuer's key by
 * `kid`), issuer, audience, lifetime (5 minutes of clock skew), and an app role in `roles`.
 */
export interface EntraTokenRules {
  issuer: string;
  audience: string;
  /** Any of these in the token's `roles` (the app role assigned to Azure Monitor's webhook principal). */
  roles: string[];
}

/** The issuer's public key for a token's `kid` (undefined: unknown key). */
export type SigningKeys = (kid: string | undefined) => Promise<KeyObject | undefined>;

const SKEW_S = 300;

const b64json = (part: string): Record<string, unknown> => {
  const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
  return v as Record<string, unknown>;
};

/** Verifies `Authorization: Bearer <jwt>`; returns its claims. 401 for a bad token, 403 for a missing role. */
export async function verifyEntraToken(
  authorization: string | null | undefined,
  rules: EntraTokenRules,
  keys: SigningKeys,
  nowMs: number,
): Promise<Record<string, unknown>> {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(
    authorization?.trim() ?? '',
  );
  if (!m) throw unauthenticated('A Secure Webhook bearer token is required.');
  const [, h, p, s] = m as unknown as [string, string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64json(h);
    claims = b64json(p);
  } catch {
    throw unauthenticated('The bearer token is malformed.');
  }
  if (header.alg !== 'RS256') throw unauthenticated('The bearer token must be signed with RS256.');
  const key = await keys(typeof header.kid === 'string' ? header.kid : undefined);
  if (!key) throw unauthenticated('The bearer token is signed with an unknown key.');
  const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  if (!ok) throw unauthenticated('The bearer token signature is invalid.');
  const now = nowMs / 1000;
  if (claims.iss !== rules.issuer) throw unauthenticated('The bearer token has the wrong issuer.');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(rules.audience))
    throw unauthenticated('The bearer token has the wrong audience.');
  if (typeof claims.exp !== 'number' || claims.exp + SKEW_S < now)
    throw unauthenticated('The bearer token has expired.');
  if (typeof claims.nbf === 'number' && claims.nbf - SKEW_S > now)
    throw unauthenticated('The bearer token is not valid yet.');
  const roles = Array.isArray(claims.roles) ? claims.roles : [];
  if (!rules.roles.some((r) => roles.includes(r)))
    throw forbidden(`The bearer token lacks the role ${rules.roles.join(' or ')}.`);
  return claims;
}

/** A fixed signing key (PEM, or one JWK as JSON): for deployments that pin the issuer's key. */
export function staticSigningKey(keyText: string): SigningKeys {
  const text = keyText.trim();
  const key = text.startsWith('{')
    ? createPublicKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' })
    : createPublicKey(text);
  return async () => key;
}
