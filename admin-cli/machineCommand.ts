import type { AdminClient } from './client';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;

/**
 * `haven machine revoke|delete|rotate-key|replace MACHINE` and `haven token revoke TOKEN`: ending
 * or renewing access (docs/security.md). Returns false when `sub` is not one of these (the caller
 * shows the machine instead).
 */
export async function accessCommand(
  cmd: string,
  sub: string | undefined,
  arg: string | undefined,
  client: AdminClient,
  print: Print,
  need: (v: string | undefined, what: string) => string,
  /** `--ttl` of a replacement token, as the API takes it. */
  tokenBody: { ttlSeconds?: number } = {},
): Promise<boolean> {
  const enc = encodeURIComponent;
  if (cmd === 'token' && sub === 'revoke') {
    const t = (
      await client.request('POST', `enrollment-tokens/${enc(need(arg, 'TOKEN'))}/revoke`, {})
    ).body as Row;
    print(t, () => `Token ${t.id} revoked at ${t.revokedAt}: it enrolls nothing.`);
    return true;
  }
  if (cmd !== 'machine') return false;
  if (sub === 'revoke') {
    const m = (await client.request('POST', `machines/${enc(need(arg, 'MACHINE'))}/revoke`, {}))
      .body as Row;
    print(m, () => `Machine ${m.id} revoked at ${m.revokedAt}: its credential no longer works.`);
    return true;
  }
  if (sub === 'delete') {
    const r = (await client.request('DELETE', `machines/${enc(need(arg, 'MACHINE'))}`)).body as {
      id: string;
      deleted: string[];
    };
    print(r, () => `Deleted: ${r.deleted.join(', ')}.`);
    return true;
  }
  if (sub === 'replace') {
    const t = (
      await client.request(
        'POST',
        `machines/${enc(need(arg, 'MACHINE'))}/replacement-token`,
        tokenBody,
      )
    ).body as Row;
    print(
      t,
      () =>
        `${t.token}\n(one-time token for a new agent to take over machine ${t.replaces}: haven-agent enroll with it; expires ${t.expiresAt}; shown once)`,
    );
    return true;
  }
  if (sub === 'rotate-key') {
    const m = (await client.request('POST', `machines/${enc(need(arg, 'MACHINE'))}/rotate-key`, {}))
      .body as Row;
    print(
      m,
      () =>
        `New data key requested for ${m.id} (current key ${m.keyId}): the agent takes it on its next heartbeat; older points stay readable.`,
    );
    return true;
  }
  return false;
}
