import { randomUUID } from 'node:crypto';

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/**
 * An Entra ID access token as a local endpoint that checks claims but not signatures takes it
 * (Azurite `--oauth basic`): issuer, audience, lifetime, object and tenant id.
 */
export function entraToken(
  claims: { aud?: string; oid?: string; tid?: string; lifetimeSec?: number } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const tid = claims.tid ?? randomUUID();
  const payload = {
    aud: claims.aud ?? 'https://storage.azure.com',
    iss: `https://sts.windows.net/${tid}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + (claims.lifetimeSec ?? 3600),
    oid: claims.oid ?? randomUUID(),
    tid,
  };
  return `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(payload)}.${Buffer.from('unsigned').toString('base64url')}`;
}
