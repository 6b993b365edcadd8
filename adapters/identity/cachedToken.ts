import type { AccessToken, TokenCredential } from '@azure/core-auth';

/** A token is renewed this long before it expires, so no request carries one about to lapse. */
const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * A bearer token of one credential and scope, kept until shortly before it expires. Callers
 * that ask while it is renewed share the one renewal; if a renewal fails while the old token
 * is still valid, the old one is used and the next call tries again.
 */
export class CachedToken {
  private current?: AccessToken;
  private renewing?: Promise<AccessToken>;

  constructor(
    private readonly credential: TokenCredential,
    private readonly scope: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<string> {
    const now = this.clock();
    const held = this.current;
    if (held && held.expiresOnTimestamp - now > RENEW_BEFORE_MS) return held.token;
    try {
      return (await this.renew()).token;
    } catch (e) {
      if (held && held.expiresOnTimestamp > now) return held.token;
      throw e;
    }
  }

  private renew(): Promise<AccessToken> {
    this.renewing ??= this.credential
      .getToken(this.scope)
      .then((t) => {
        if (!t) throw new Error(`no token for ${this.scope}`);
        this.current = t;
        return t;
      })
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }
}
