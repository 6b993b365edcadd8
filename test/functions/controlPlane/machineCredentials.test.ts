import { describe, expect, it } from 'vitest';
import { addDisk, heartbeat } from '../../../functions/controlPlane/agent';
import { bearer, call, expectProblem, requestIngestToken, storeSnapshot, useLab } from './support';

const lab = useLab();

describe('machine credential checks', () => {
  it('missing, malformed, wrong or foreign credentials are refused and nothing is written', async () => {
    const a = await lab.enrolled();
    const b = await lab.enrolled();
    const before = await storeSnapshot(lab.root);
    const hb = { agentVersion: '1', disks: [] };
    const at = (headers: Record<string, string>) => ({
      path: `machines/${a.machineId}/heartbeat`,
      params: { id: a.machineId },
      headers,
      body: hb,
    });
    const wrongSecret = `hvm.${a.machineId}.${'A'.repeat(43)}`;
    expectProblem(await call(heartbeat, at({})), 401, 'unauthenticated');
    expectProblem(
      await call(heartbeat, at({ authorization: 'Basic abc' })),
      401,
      'unauthenticated',
    );
    expectProblem(await call(heartbeat, at(bearer(wrongSecret))), 401, 'unauthenticated');
    expectProblem(
      await call(heartbeat, at(bearer(`hvm.m-unknown.${'A'.repeat(43)}`))),
      401,
      'unauthenticated',
    );
    expectProblem(await call(heartbeat, at(bearer(b.credential))), 403, 'forbidden');
    expectProblem(
      await call(addDisk, {
        path: `machines/${a.machineId}/disks`,
        params: { id: a.machineId },
        headers: bearer(b.credential),
        body: { id: 'x', sizeBytes: 512, logicalSectorSize: 512 },
      }),
      403,
      'forbidden',
    );
    expectProblem(await requestIngestToken(a.machineId, wrongSecret), 401, 'unauthenticated');
    // Credential check comes before body parsing: a foreign caller learns nothing from errors.
    expectProblem(
      await call(heartbeat, { ...at(bearer(b.credential)), body: '{bad' }),
      403,
      'forbidden',
    );
    expect(await storeSnapshot(lab.root)).toEqual(before);
  });

  it('unknown data keys are not-found', async () => {
    const a = await lab.enrolled();
    await expect(
      lab.root.controlPlane.machineKeys.getDataKey(a.machineId, 'k-nope'),
    ).rejects.toMatchObject({ kind: 'not-found' });
    const b = await lab.enrolled();
    await expect(
      lab.root.controlPlane.machineKeys.getDataKey(b.machineId, a.dataKey.keyId),
    ).rejects.toMatchObject({ kind: 'not-found' });
  });
});
