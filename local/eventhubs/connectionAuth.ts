import type { Connection, EventContext, Receiver, Sender } from 'rhea';
import { resourcePath } from './address';
import { EmulatorError, UNAUTHORIZED, unauthorized, type AmqpError } from './emulatorError';
import type { AccessRight, SharedAccessKeyDefinition } from './emulatorOptions';
import type { EventHubStore } from './eventHubStore';
import { respond } from './respond';
import { parseSasToken, verifySasSignature } from './sas';

export interface Claim {
  /** Lower-cased path segments of the token's resource; [] = the namespace. */
  scope: string[];
  publisher?: string;
  rights: Set<AccessRight>;
  expiresAt: number;
}

interface Grants {
  claims: Claim[];
  /** Open entity links and what they were authorized for, re-checked as tokens expire. */
  links: Map<Sender | Receiver, { path: string[]; need: AccessRight }>;
}

/**
 * Who may do what on each connection: SASL (PLAIN with a key, or ANONYMOUS followed by
 * claims-based security), SAS tokens put on `$cbs`, and the expiry of what they granted.
 */
export class ConnectionAuth {
  private readonly conns = new Map<Connection, Grants>();

  constructor(
    private readonly keys: Map<string, SharedAccessKeyDefinition>,
    private readonly hubs: EventHubStore,
    private readonly say: (msg: string) => void,
  ) {}

  enableSasl(container: { sasl_server_mechanisms: unknown }): void {
    const mechanisms = container.sasl_server_mechanisms as {
      enable_anonymous(): void;
      enable_plain(cb: (user: string, pass: string) => boolean): void;
    };
    mechanisms.enable_anonymous();
    mechanisms.enable_plain((user, pass) => this.keys.get(user)?.key === pass);
  }

  private grants(c: Connection): Grants {
    let s = this.conns.get(c);
    if (!s) {
      s = { claims: [], links: new Map() };
      this.conns.set(c, s);
    }
    return s;
  }

  /** Verifies a SAS token; returns the claim it grants. */
  verifyToken(token: unknown): Claim {
    if (typeof token !== 'string') throw unauthorized('A SAS token is required.');
    const sas = parseSasToken(token);
    if (!sas) throw unauthorized('Malformed SharedAccessSignature.');
    const key = this.keys.get(sas.keyName);
    if (!key || !verifySasSignature(sas, key.key)) {
      throw unauthorized(`Invalid signature for key '${sas.keyName}'.`);
    }
    if (sas.expiry * 1000 <= Date.now()) throw unauthorized('The token has expired.');
    const scope = resourcePath(sas.resource);
    if (!scope) throw unauthorized('Malformed token resource.');
    let publisher: string | undefined;
    if (scope.length >= 3 && scope[1] === 'publishers') {
      publisher = scope[2];
      scope.length = 3;
    }
    if (scope.length > 0) this.hubs.hub(scope[0]!);
    return {
      scope,
      publisher,
      rights: new Set(key.rights ?? ['Send', 'Listen', 'Manage']),
      expiresAt: sas.expiry * 1000,
    };
  }

  addClaim(conn: Connection, claim: Claim): void {
    this.grants(conn).claims.push(claim);
  }

  /**
   * Whether `claim` allows `need` on the entity at `path` (lower-cased segments). A publisher
   * token may only send, and only to its hub (bound to the publisher) or its publisher path.
   */
  private allows(claim: Claim, path: string[], need: AccessRight | 'Read'): boolean {
    if (claim.expiresAt <= Date.now()) return false;
    if (claim.publisher !== undefined) {
      if (need !== 'Send' || (!claim.rights.has('Send') && !claim.rights.has('Manage')))
        return false;
      if (path[0] !== claim.scope[0]) return false;
      return (
        path.length === 1 ||
        (path.length === 3 && path[1] === 'publishers' && path[2] === claim.publisher)
      );
    }
    if (need !== 'Read' && !claim.rights.has(need) && !claim.rights.has('Manage')) return false;
    return claim.scope.every((seg, i) => path[i] === seg);
  }

  /** The claim on this connection that authorizes the access, preferring unrestricted ones. */
  authorize(conn: Connection, path: string[], need: AccessRight | 'Read'): Claim {
    const ok = this.grants(conn).claims.filter((c) => this.allows(c, path, need));
    const best = ok.find((c) => c.publisher === undefined) ?? ok[0];
    if (!best) throw unauthorized(`No valid token for '${path.join('/')}' (${need}).`);
    return best;
  }

  /** Remembers an authorized entity link so that it is detached once no token covers it. */
  trackLink(conn: Connection, link: Sender | Receiver, path: string[], need: AccessRight): void {
    this.grants(conn).links.set(link, { path, need });
  }

  onCbs(ctx: EventContext): void {
    const request = ctx.message!;
    const props = request.application_properties ?? {};
    try {
      if (props.operation !== 'put-token') {
        throw new EmulatorError(
          'amqp:not-implemented',
          501,
          `Unsupported $cbs operation '${String(props.operation)}'.`,
        );
      }
      if (typeof props.type === 'string' && props.type.toLowerCase().includes('jwt')) {
        throw unauthorized('Only SAS tokens are accepted by the emulator.');
      }
      const claim = this.verifyToken(request.body);
      const audience = resourcePath(String(props.name ?? ''));
      if (!audience) throw new EmulatorError('com.microsoft:argument-error', 400, 'Bad audience.');
      if (audience.length > 0) this.hubs.checkEntity(audience);
      const need: AccessRight | 'Read' =
        audience[1] === 'consumergroups'
          ? 'Listen'
          : audience[1] === '$management'
            ? 'Read'
            : audience.length === 0
              ? 'Read'
              : 'Send';
      if (!this.allows(claim, audience, need)) {
        throw unauthorized(`The token does not grant '${need}' on '${audience.join('/')}'.`);
      }
      this.addClaim(ctx.connection, claim);
      respond(ctx, '$cbs', request, 202, 'Accepted');
    } catch (e) {
      const err =
        e instanceof EmulatorError ? e : new EmulatorError('amqp:internal-error', 500, String(e));
      this.say(`cbs put-token refused: ${err.message}`);
      respond(ctx, '$cbs', request, err.status, err.message, undefined, err.condition);
    }
    ctx.delivery?.accept();
  }

  /**
   * As the service does, a link whose token expired (and was not renewed through $cbs) is
   * detached with an authorization error; the client has to put a fresh token and re-attach.
   * `revoked` runs before the detach so that nothing more is accepted on the link.
   */
  expire(revoked: (link: Sender | Receiver) => void): void {
    const now = Date.now();
    for (const s of this.conns.values()) {
      s.claims = s.claims.filter((c) => c.expiresAt > now);
      for (const [link, grant] of s.links) {
        if (!link.is_open()) {
          s.links.delete(link);
          continue;
        }
        if (s.claims.some((c) => this.allows(c, grant.path, grant.need))) continue;
        s.links.delete(link);
        revoked(link);
        link.close({
          condition: UNAUTHORIZED,
          description: 'Unauthorized access. The token has expired. status-code: 401',
        } as AmqpError);
      }
    }
  }

  forget(conn: Connection): void {
    this.conns.delete(conn);
  }
}
