import { createSign, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HavenError } from '../../../core/errors';
import {
  staticSigningKey,
  verifyEntraToken,
  type EntraTokenRules,
} from '../../../core/alerts/entraToken';
import { jwksSigningKeys } from '../../../adapters/jwks/jwksSigningKeys';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW = Date.parse('2026-12-01T10:00:00Z');
const rules: EntraTokenRules = {
  issuer: 'https://login.microsoftonline.com/tenant-1/v2.0',
  audience: 'api://haven-alerts',
  roles: ['ActionGroupsSecureWebhook'],
};

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(
  claims: Record<string, unknown> = {},
  opts: { key?: typeof privateKey; alg?: string; kid?: string } = {},
) {
  const head = b64({ alg: opts.alg ?? 'RS256', typ: 'JWT', kid: opts.kid ?? 'k1' });
  const body = b64({
    iss: rules.issuer,
    aud: rules.audience,
    roles: ['ActionGroupsSecureWebhook'],
    nbf: NOW / 1000 - 60,
    exp: NOW / 1000 + 3600,
    ...claims,
  });
  const sig = createSign('RSA-SHA256')
    .update(`${head}.${body}`)
    .sign(opts.key ?? privateKey)
    .toString('base64url');
  return `Bearer ${head}.${body}.${sig}`;
}

const keys = staticSigningKey(publicKey.export({ type: 'spki', format: 'pem' }).toString());
const kind = async (auth: string | undefined) => {
  try {
    await verifyEntraToken(auth, rules, keys, NOW);
    return 'ok';
  } catch (e) {
    return e instanceof HavenError ? e.kind : String(e);
  }
};

describe('Secure Webhook token (a locally signed Entra-shaped token)', () => {
  it.each([
    ['valid', token(), 'ok'],
    ['audience as a list', token({ aud: ['x', rules.audience] }), 'ok'],
    ['no token', undefined, 'unauthenticated'],
    ['not a JWT', 'Bearer abc', 'unauthenticated'],
    ['signed by another key', token({}, { key: other.privateKey }), 'unauthenticated'],
    ['HS256', token({}, { alg: 'HS256' }), 'unauthenticated'],
    ['wrong issuer', token({ iss: 'https://sts.windows.net/evil/' }), 'unauthenticated'],
    ['wrong audience', token({ aud: 'api://other' }), 'unauthenticated'],
    ['expired', token({ exp: NOW / 1000 - 600 }), 'unauthenticated'],
    ['not yet valid', token({ nbf: NOW / 1000 + 600 }), 'unauthenticated'],
    ['no role', token({ roles: [] }), 'forbidden'],
    ['another role', token({ roles: ['Reader'] }), 'forbidden'],
  ])('%s → %s', async (_what, auth, expected) => {
    expect(await kind(auth)).toBe(expected);
  });

  it('a tampered payload fails the signature', async () => {
    const [h, , s] = token().slice(7).split('.');
    const forged = `Bearer ${h}.${b64({ iss: rules.issuer, aud: rules.audience, roles: ['ActionGroupsSecureWebhook'], exp: NOW / 1000 + 60 })}.${s}`;
    expect(await kind(forged)).toBe('unauthenticated');
  });

  it('JWKS keys are found by kid and refetched for an unknown kid', async () => {
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1' };
    let fetches = 0;
    const fake = (async () => {
      fetches++;
      return new Response(JSON.stringify({ keys: [jwk] }), { status: 200 });
    }) as unknown as typeof fetch;
    let clock = NOW;
    const jwks = jwksSigningKeys('https://login.example/keys', { fetch: fake, clock: () => clock });
    await expect(verifyEntraToken(token(), rules, jwks, NOW)).resolves.toMatchObject({
      iss: rules.issuer,
    });
    expect(await jwks('unknown')).toBeUndefined(); // refetch is rate-limited
    clock += 61_000;
    expect(await jwks('unknown')).toBeUndefined();
    expect(fetches).toBe(2);
  });
});
