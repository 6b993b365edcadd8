import type { DocumentStore } from '../documents/ports';
import { forbidden, unauthenticated } from '../errors';
import { parseCredential, secretMatches } from './credentials';
import { collectionsDefs, type MachineDoc } from './model';

/**
 * Checks `Authorization: Bearer hvm.<machineId>.<secret>` for machine endpoints.
 * 401 for anything not a valid credential; 403 for a valid credential of another machine.
 */
export class MachineAuth {
  private readonly machines;
  constructor(documents: DocumentStore) {
    this.machines = documents.collection<MachineDoc>(collectionsDefs.machines);
  }

  /** Verifies the credential; returns the machine it belongs to. */
  async verify(credential: string | null | undefined): Promise<MachineDoc> {
    const parsed = parseCredential('hvm', credential);
    if (!parsed) throw unauthenticated('A machine credential (Bearer hvm.…) is required.');
    const found = await this.machines.get(parsed.id, parsed.id);
    // Hash anyway when the machine is unknown so timing does not reveal which ids exist.
    const ok = secretMatches(parsed.secret, found?.doc.credentialHash ?? '00'.repeat(32));
    if (!found || !ok) throw unauthenticated('The machine credential is not valid.');
    if (found.doc.revokedAt) throw unauthenticated('The machine credential was revoked.');
    return found.doc;
  }

  /** Verifies an `Authorization` header value and that it is the credential of `machineId`. */
  async authenticate(
    authorization: string | null | undefined,
    machineId: string,
  ): Promise<MachineDoc> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '');
    const machine = await this.verify(m?.[1]);
    if (machine.id !== machineId) throw forbidden('This credential belongs to another machine.');
    return machine;
  }
}
