import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armFixture, LOCATION, put, type ArmFixture } from '../../support/armFixture';

/** A snapshot opened for reading through the ARM adapter: one grant, ranged reads, revoke. */
let f: ArmFixture;
const rg = 'rg-reader';
const id = (type: string, name: string) =>
  `${f.target.subscriptionPath}/resourceGroups/${rg}/providers/${type}/${name}`;

beforeAll(async () => {
  f = await armFixture(undefined);
  await put(f.target, { type: 'Microsoft.Resources/resourceGroups', name: rg, location: LOCATION });
  await put(f.target, {
    type: 'Microsoft.Compute/disks',
    resourceGroup: rg,
    name: 'os',
    location: LOCATION,
    source: { kind: 'empty', sizeGiB: 1 },
  });
  await put(f.target, {
    type: 'Microsoft.Compute/snapshots',
    resourceGroup: rg,
    name: 'snap',
    location: LOCATION,
    sourceResourceId: id('Microsoft.Compute/disks', 'os'),
    incremental: true,
  });
}, 120_000);
afterAll(async () => {
  await f?.close();
});

describe('snapshot reader', () => {
  it('reads ranges of a snapshot through its grant, and again after a revoke and a new grant', async () => {
    for (let round = 0; round < 2; round++) {
      const r = await f.target.openSnapshot(id('Microsoft.Compute/snapshots', 'snap'), 600);
      expect(r.sizeBytes).toBe(1024 ** 3);
      expect(await r.read(4096, 8192)).toEqual(Buffer.alloc(8192));
      await r.close();
    }
  });
});
