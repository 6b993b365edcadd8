import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DocumentStore } from '../documents/ports';
import { HavenError, integrity, notFound, transient } from '../errors';
import { collectionsDefs, type DataKeyDoc } from './model';
import { newId } from './credentials';

/** Wraps data keys under a key-encryption key (local AES-256-GCM; Key Vault in Azure). */
export interface KeyWrapper {
  readonly kekId: string;
  wrap(plain: Buffer, aad: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer>;
}

/** AES-256-GCM with a KEK held in process memory (HAVEN_KEK). Layout: nonce(12) ‖ ct ‖ tag(16). */
export class AesKeyWrapper implements KeyWrapper {
  readonly kekId = 'local-aes';
  constructor(private readonly kek: Buffer) {
    if (kek.length !== 32) throw new Error('The KEK must be 32 bytes.');
  }

  async wrap(plain: Buffer, aad: Buffer): Promise<Buffer> {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek, nonce).setAAD(aad);
    return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    if (wrapped.length < 28) throw integrity('Wrapped key is truncated.');
    const d = createDecipheriv('aes-256-gcm', this.kek, wrapped.subarray(0, 12)).setAAD(aad);
    d.setAuthTag(wrapped.subarray(wrapped.length - 16));
    try {
      return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
    } catch {
      throw integrity('Data key failed to unwrap (wrong KEK or tampered).');
    }
  }
}

/** Used when HAVEN_KEK is not configured: anything needing keys answers 503. */
export class MissingKeyWrapper implements KeyWrapper {
  readonly kekId = 'none';
  private fail(): never {
    throw transient('No key-encryption key is configured (HAVEN_KEK).');
  }
  async wrap(): Promise<Buffer> {
    this.fail();
  }
  async unwrap(): Promise<Buffer> {
    this.fail();
  }
}

/**
 * The KEK that wraps new data keys and the older ones still unwrapping theirs (after a move
 * from HAVEN_KEK to a Key Vault key, keys wrapped before stay readable until rewrapped).
 * Each data key document names the KEK it was wrapped under (`kekId`).
 */
export class KeyRing implements KeyWrapper {
  readonly kekId: string;
  constructor(
    private readonly current: KeyWrapper,
    private readonly older: readonly KeyWrapper[] = [],
  ) {
    this.kekId = current.kekId;
  }
  wrap(plain: Buffer, aad: Buffer): Promise<Buffer> {
    return this.current.wrap(plain, aad);
  }
  unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    return this.current.unwrap(wrapped, aad);
  }
  /** The wrapper of documents wrapped under `kekId`; undefined when this app lacks that KEK. */
  under(kekId: string): KeyWrapper | undefined {
    return [this.current, ...this.older].find((w) => w.kekId === kekId);
  }
}

const aadFor = (machineId: string, keyId: string) =>
  Buffer.from(`haven-data-key|${machineId}|${keyId}`, 'utf8');

/**
 * Per-machine data keys for batch AEAD. Issued at enrollment (returned once to the agent),
 * stored only wrapped. The ingest path calls `getDataKey` to open batches.
 */
export class MachineKeys {
  private readonly keys;
  private readonly ring: KeyRing;
  constructor(
    documents: DocumentStore,
    private readonly wrapper: KeyWrapper,
    private readonly clock: () => number,
  ) {
    this.keys = documents.collection<DataKeyDoc>(collectionsDefs.dataKeys);
    this.ring = wrapper instanceof KeyRing ? wrapper : new KeyRing(wrapper);
  }

  /** Creates the wrapped form of a fresh key without storing it (enrollment stores it last). */
  async prepare(machineId: string): Promise<{ keyId: string; key: Buffer; doc: DataKeyDoc }> {
    const keyId = newId('k');
    const key = randomBytes(32);
    const wrapped = await this.wrapper.wrap(key, aadFor(machineId, keyId));
    const doc: DataKeyDoc = {
      id: keyId,
      machineId,
      wrapped: wrapped.toString('base64'),
      kekId: this.wrapper.kekId,
      createdAt: new Date(this.clock()).toISOString(),
    };
    return { keyId, key, doc };
  }

  async store(doc: DataKeyDoc): Promise<void> {
    await this.keys.create(doc);
  }

  /** Ids of every data key the machine has had (each still opens what it sealed). */
  async keyIds(machineId: string): Promise<string[]> {
    const res = await this.keys.query({ partitionKey: machineId, limit: 1000 });
    return res.items.map((x) => x.doc.id);
  }

  /** The 32-byte data key; `not-found` for an unknown (machine, key), `integrity` if it fails to unwrap. */
  async getDataKey(machineId: string, keyId: string): Promise<Buffer> {
    const found = await this.keys.get(machineId, keyId);
    if (!found) throw notFound('Data key', `${machineId}/${keyId}`);
    // A KEK this app is not given is configuration, not a bad key: retryable, never a refusal.
    const wrapper = this.ring.under(found.doc.kekId);
    if (!wrapper)
      throw transient(
        `Data key ${machineId}/${keyId} is wrapped under KEK '${found.doc.kekId}', which this app is not configured with (HAVEN_KEK, HAVEN_KEYVAULT_URL).`,
      );
    try {
      return await wrapper.unwrap(
        Buffer.from(found.doc.wrapped, 'base64'),
        aadFor(machineId, keyId),
      );
    } catch (e) {
      if (e instanceof HavenError) throw e;
      throw integrity('Data key failed to unwrap.');
    }
  }
}
