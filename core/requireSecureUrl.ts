import { isIP } from 'node:net';
import { HavenError } from './errors';

/**
 * A URL a secret will be sent to (an enrollment token, a machine credential, the admin key):
 * https, or plain http to this host only (the local stack). Over plain http to another host the
 * secret would cross the network readable by anyone on the path. `what` names the option in
 * the refusal (`--api`).
 */
export function requireSecureUrl(api: string, what: string): string {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new HavenError('validation', `${what} is not a URL: ${JSON.stringify(api)}.`);
  }
  if (url.protocol === 'https:') return api;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return api;
  throw new HavenError(
    'validation',
    `${what} must be an https:// URL (plain http is accepted only for this host: localhost, 127.0.0.0/8, [::1]); got ${url.protocol}//${url.host}.`,
  );
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}
