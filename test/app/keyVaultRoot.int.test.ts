import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config';
import { createRoot } from '../../app/root';
import { createKeyVaultKeyWrapper } from '../../adapters/keyvault/keyVaultKeyWrapper';
import { decodeBatch, encodeBatch } from '../../core/batch';
import { AesKeyWrapper, MachineKeys } from '../../core/controlPlane/machineKeys';
import { collectionsDefs, type DataKeyDoc } from '../../core/controlPlane/model';
import { LOCAL_KEK_KEY_NAME, type LocalKeyVault } from '../../local/keyvault/localKeyVault';
import { useLocalKeyVault } from '../support/localKeyVault';

const env = useLocalKeyVault('haven-kv-root-');

const kek = randomBytes(32);
/** The app as the local stack configures it: the vault's key wraps, HAVEN_KEK stays for old keys. */
const rootOf = (v: LocalKeyVault) =>
  createRoot(
    loadConfig({
      HAVEN_DOCUMENT_STORE: 'memory',
      HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true',
      HAVEN_COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
      HAVEN_KEK: kek.toString('base64'),
      HAVEN_KEYVAULT_URL: v.url,
      HAVEN_KEK_KEY_NAME: LOCAL_KEK_KEY_NAME,
      HAVEN_KEYVAULT_CREDENTIAL: 'static-token',
      HAVEN_KEYVAULT_TOKEN: v.token,
      HAVEN_KEYVAULT_CA_CERT: v.caCertPath,
    }),
  );

/** A sealed one-extent batch of the machine's, as its agent sends it. */
function sealed(machineId: string, dataKey: { keyId: string; key: string }, data: Buffer) {
  const header = { machineId, diskId: 'sda', generation: 1, seq: 1, diskSize: 1 << 20 };
  const key = Buffer.from(dataKey.key, 'base64');
  return encodeBatch({ ...header, keyId: dataKey.keyId }, [{ kind: 'data', offset: 0, data }], key);
}

const versionOf = (doc: DataKeyDoc) => {
  const w = Buffer.from(doc.wrapped, 'base64');
  return w.subarray(1, 1 + w[0]!).toString('ascii');
};

describe('the control plane with the KEK in Key Vault', () => {
  it('enrollment wraps the data key in the vault; ingest opens the machine batches with it, across a key rotation', async () => {
    const root = rootOf(env.vault);
    const cp = root.controlPlane;
    await cp.sites.create({ name: 'branch' });
    const enrollOne = async () => {
      const { token } = await cp.enrollment.issueToken('branch', { ttlSeconds: 600 });
      return cp.enrollment.enroll({ token, hostname: 'web01', os: 'Debian 12', disks: [] });
    };
    const keys = root.documents.collection<DataKeyDoc>(collectionsDefs.dataKeys);
    const first = await enrollOne();
    const firstDoc = (await keys.get(first.machineId, first.dataKey.keyId))!.doc;
    expect(firstDoc.kekId).toBe(`keyvault:127.0.0.1/${LOCAL_KEK_KEY_NAME}`);

    const data = randomBytes(4096);
    const openWith = (m: string, k: { keyId: string; key: string }) =>
      decodeBatch(sealed(m, k, data), (mm, kk) => root.replication.deps.keys.getDataKey(mm, kk));
    expect((await openWith(first.machineId, first.dataKey)).extents[0]).toMatchObject({ data });

    // Rotated in the vault: the app started after it wraps with the new version, and the
    // first machine's key (the old version) still opens its batches.
    const newer = env.vault.rotate(LOCAL_KEK_KEY_NAME);
    expect(newer).not.toBe(versionOf(firstDoc));
    const after = rootOf(env.vault);
    await after.controlPlane.sites.create({ name: 'branch' });
    const { token } = await after.controlPlane.enrollment.issueToken('branch', { ttlSeconds: 60 });
    const second = await after.controlPlane.enrollment.enroll({
      token,
      hostname: 'web02',
      os: 'Debian 12',
      disks: [],
    });
    const secondDoc = (await after.documents
      .collection<DataKeyDoc>(collectionsDefs.dataKeys)
      .get(second.machineId, second.dataKey.keyId))!.doc;
    expect(versionOf(secondDoc)).toBe(newer);
    const opened = await decodeBatch(sealed(second.machineId, second.dataKey, data), (m, k) =>
      after.replication.deps.keys.getDataKey(m, k),
    );
    expect(opened.extents[0]).toMatchObject({ data });
    expect((await openWith(first.machineId, first.dataKey)).extents[0]).toMatchObject({ data });
    // A batch sealed with one machine's key does not open as another's.
    await expect(
      decodeBatch(sealed(first.machineId, second.dataKey, data), (m, k) =>
        after.replication.deps.keys.getDataKey(m, k),
      ),
    ).rejects.toThrow();
  });

  it('keys wrapped under HAVEN_KEK before the move still open; without HAVEN_KEK they wait (transient), never refused', async () => {
    const root = rootOf(env.vault);
    const legacy = new MachineKeys(root.documents, new AesKeyWrapper(kek), Date.now);
    const old = await legacy.prepare('m-old');
    await legacy.store(old.doc);
    expect(old.doc.kekId).toBe('local-aes');
    expect((await root.replication.deps.keys.getDataKey('m-old', old.keyId)).equals(old.key)).toBe(
      true,
    );
    const vaultOnly = new MachineKeys(
      root.documents,
      createKeyVaultKeyWrapper({
        url: env.vault.url,
        keyName: LOCAL_KEK_KEY_NAME,
        credential: 'static-token',
        token: env.vault.token,
        caCert: env.vault.caCertPath,
      }),
      Date.now,
    );
    await expect(vaultOnly.getDataKey('m-old', old.keyId)).rejects.toMatchObject({
      kind: 'transient',
      message: expect.stringContaining("'local-aes'"),
    });
  });
});
