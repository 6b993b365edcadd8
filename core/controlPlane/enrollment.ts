import type { DocumentStore } from '../documents/ports';
import { HavenError, conflict, notFound, unauthenticated } from '../errors';
import {
  formatCredential,
  newId,
  newSecret,
  parseCredential,
  secretMatches,
  sha256Hex,
} from './credentials';
import type { MachineKeys } from './machineKeys';
import { collectionsDefs, type DiskDoc, type EnrollmentTokenDoc, type MachineDoc } from './model';
import type { Sites } from './sites';
import type { CreateTokenBody, EnrollBody } from './schemas';

export interface IssuedToken {
  id: string;
  siteId: string;
  /** `hvt.<id>.<secret>`: shown once, only its hash is stored. */
  token: string;
  expiresAt: string;
}

export interface Enrollment {
  machineId: string;
  siteId: string;
  /** `hvm.<machineId>.<secret>`: shown once. */
  credential: string;
  /** Batch AEAD key, shown once (base64 of 32 bytes). */
  dataKey: { keyId: string; key: string };
  /**
   * Set when a replacement token was redeemed: this agent took over an existing machine. It
   * gets the machine's earlier data keys too, which open what the cloud already sealed for the
   * machine (reverse batches of a failback in flight); new batches use the new `dataKey`.
   */
  replaced?: { previousKeys: { keyId: string; key: string }[] };
}

const invalidToken = () =>
  unauthenticated('The enrollment token is invalid, expired or already used.');

/** One-time enrollment tokens and machine enrollment. */
export class EnrollmentService {
  private readonly tokens;
  private readonly machines;
  private readonly disks;

  constructor(
    documents: DocumentStore,
    private readonly sites: Sites,
    private readonly keys: MachineKeys,
    private readonly clock: () => number,
  ) {
    this.tokens = documents.collection<EnrollmentTokenDoc>(collectionsDefs.enrollmentTokens);
    this.machines = documents.collection<MachineDoc>(collectionsDefs.machines);
    this.disks = documents.collection<DiskDoc>(collectionsDefs.disks);
  }

  async issueToken(siteId: string, body: CreateTokenBody): Promise<IssuedToken> {
    await this.sites.get(siteId);
    return this.newToken(siteId, body);
  }

  /**
   * Admin: a one-time token that lets a freshly installed agent take over `machineId` (its
   * hardware or its agent state was lost). Redeeming it renews the machine's credential (the
   * old one stops working), rotates its data key and keeps everything else: disks,
   * generations, protection, recovery points, a failback in flight.
   */
  async issueReplacementToken(
    machineId: string,
    body: CreateTokenBody,
  ): Promise<IssuedToken & { replaces: string }> {
    const m = await this.machines.get(machineId, machineId);
    if (!m) throw notFound('Machine', machineId);
    return { ...(await this.newToken(m.doc.siteId, body, machineId)), replaces: machineId };
  }

  private async newToken(
    siteId: string,
    body: CreateTokenBody,
    replaces?: string,
  ): Promise<IssuedToken> {
    const id = newId('t');
    const secret = newSecret();
    const now = this.clock();
    const expiresAt = now + body.ttlSeconds * 1000;
    await this.tokens.create({
      id,
      siteId,
      secretHash: sha256Hex(secret),
      createdAt: new Date(now).toISOString(),
      expiresAt,
      ...(replaces ? { replaces } : {}),
    });
    return {
      id,
      siteId,
      token: formatCredential('hvt', id, secret),
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /** Revokes an unused token (idempotent); a used one is 409: it already enrolled its machine. */
  async revokeToken(tokenId: string): Promise<{ id: string; revokedAt: string }> {
    for (;;) {
      const found = await this.tokens.get(tokenId, tokenId);
      if (!found) throw notFound('Enrollment token', tokenId);
      if (found.doc.usedAt)
        throw conflict(
          `Token ${tokenId} was already used by machine ${found.doc.usedBy}; revoke the machine instead.`,
        );
      if (found.doc.revokedAt) return { id: tokenId, revokedAt: found.doc.revokedAt };
      const revokedAt = new Date(this.clock()).toISOString();
      try {
        await this.tokens.replace({ ...found.doc, revokedAt }, { ifMatch: found.etag });
        return { id: tokenId, revokedAt };
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition')) throw e;
      }
    }
  }

  /**
   * Redeems a token for a machine identity. The token is claimed with a conditional write
   * (ETag) before anything else is created, so of two concurrent enrollments one wins and the
   * other gets 401; if a later step fails the claim is released.
   */
  async enroll(body: EnrollBody): Promise<Enrollment> {
    const parsed = parseCredential('hvt', body.token);
    if (!parsed) throw invalidToken();
    const found = await this.tokens.get(parsed.id, parsed.id);
    if (
      !found ||
      found.doc.usedAt ||
      found.doc.revokedAt ||
      !secretMatches(parsed.secret, found.doc.secretHash)
    ) {
      throw invalidToken();
    }
    const siteId = found.doc.siteId;
    const replaces = found.doc.replaces;
    const machineId = replaces ?? newId('m');
    const secret = newSecret();
    // Prepare everything that can fail without side effects (KEK missing → 503) first.
    const key = await this.keys.prepare(machineId);
    const previousKeys = replaces ? await this.unwrappedKeys(replaces) : [];
    const now = new Date(this.clock()).toISOString();

    let claimEtag: string;
    try {
      claimEtag = (
        await this.tokens.replace(
          { ...found.doc, usedAt: now, usedBy: machineId },
          { ifMatch: found.etag },
        )
      ).etag;
    } catch (e) {
      if (e instanceof HavenError && (e.kind === 'precondition' || e.kind === 'not-found'))
        throw invalidToken();
      throw e;
    }
    try {
      await this.keys.store(key.doc);
      const agent = {
        hostname: body.hostname,
        os: body.os,
        ...(body.agentVersion ? { agentVersion: body.agentVersion } : {}),
        credentialHash: sha256Hex(secret),
        keyId: key.keyId,
      };
      if (replaces) await this.takeOver(replaces, agent, now);
      else {
        for (const d of body.disks) {
          await this.disks.create({ ...d, machineId, addedAt: now });
        }
        await this.machines.create({ id: machineId, siteId, enrolledAt: now, ...agent });
      }
    } catch (e) {
      // Compensate: release the token; partial docs of the unborn machine are unreachable
      // (no machine document, no credential) and harmless; a replacement's new key is unused.
      await this.tokens.replace(found.doc, { ifMatch: claimEtag }).catch(() => undefined);
      throw e;
    }
    return {
      machineId,
      siteId,
      credential: formatCredential('hvm', machineId, secret),
      dataKey: { keyId: key.keyId, key: key.key.toString('base64') },
      ...(replaces ? { replaced: { previousKeys } } : {}),
    };
  }

  /**
   * The new agent becomes the machine: its credential and data key replace the old ones in one
   * conditional write, so the old agent's credential stops working at that instant. Disks,
   * generations and protection stay (the disks the new agent listed are ignored: it has none
   * yet, it adopts the machine's as it receives them). A replacement also ends a revocation:
   * the admin who issued the token vouches for the new agent.
   */
  private async takeOver(
    machineId: string,
    agent: Pick<MachineDoc, 'hostname' | 'os' | 'agentVersion' | 'credentialHash' | 'keyId'>,
    now: string,
  ): Promise<void> {
    for (;;) {
      const m = await this.machines.get(machineId, machineId);
      if (!m) throw invalidToken(); // deleted since the token was issued
      const { revokedAt: _r, keyRotationRequestedAt: _k, agentVersion: _v, ...kept } = m.doc;
      try {
        await this.machines.replace({ ...kept, ...agent, replacedAt: now }, { ifMatch: m.etag });
        return;
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition')) throw e;
      }
    }
  }

  /** Every data key the machine had, opened (for a replacement agent only: shown once). */
  private async unwrappedKeys(machineId: string): Promise<{ keyId: string; key: string }[]> {
    if (!(await this.machines.get(machineId, machineId))) throw invalidToken();
    const ids = await this.keys.keyIds(machineId);
    return Promise.all(
      ids.map(async (keyId) => ({
        keyId,
        key: (await this.keys.getDataKey(machineId, keyId)).toString('base64'),
      })),
    );
  }
}
