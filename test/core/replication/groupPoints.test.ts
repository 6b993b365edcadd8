import { describe, expect, it } from 'vitest';
import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { RecordingBlobEvents } from '../../../adapters/blobs/blobEvents';
import {
  cutsToInsert,
  groupRecoveryPoint,
  type GroupCut,
} from '../../../core/replication/groupPoints';
import type { ReplicationDeps } from '../../../core/replication/ports';
import { replicationCollectionsOf, type RecoveryPointDoc } from '../../../core/replication/state';
import { StaticDirectory } from './support';

function deps(): ReplicationDeps {
  return {
    blobs: new MemoryBlobStore(),
    events: new RecordingBlobEvents(),
    docs: replicationCollectionsOf(new MemoryDocumentStore()),
    machines: new StaticDirectory(),
    keys: { getDataKey: async () => Buffer.alloc(32) },
    clock: Date.now,
  };
}

const T = '2026-12-01T10:00:00.000Z';
const cut: GroupCut = {
  id: 'gb-1',
  groupId: 'erp',
  members: ['m-a', 'm-b'],
  consistency: 'crash',
  createdAt: T,
};

/** A member's published point for the bookmark, as the hydrator writes it. */
const point = (
  machineId: string,
  id = 'gb-1',
  groupId: string | null = 'erp',
): RecoveryPointDoc => ({
  id,
  type: 'point',
  machineId,
  time: T,
  consistency: 'crash',
  ...(groupId ? { groupId } : {}),
  generation: 1,
  disks: [
    {
      diskId: 'd0',
      generation: 1,
      seq: 3,
      blob: `${machineId}/d0/g1.vhd`,
      snapshot: 'snap',
      sha256: 'ab'.repeat(32),
      sizeBytes: 1 << 20,
      changes: 'c',
      changedBlocks: 1,
    },
  ],
  publishedAt: T,
});

describe('group recovery points', () => {
  it('is complete only when every member at cut time published the shared bookmark', async () => {
    const d = deps();
    const horizon = Date.parse(T) - 1;
    expect(await groupRecoveryPoint(d, cut, horizon)).toMatchObject({
      state: 'pending',
      missing: ['m-a', 'm-b'],
      machines: [],
    });
    await d.docs.points.create(point('m-a'));
    // A point of the same id outside the group does not count.
    await d.docs.points.create(point('m-b', 'gb-1', null));
    expect(await groupRecoveryPoint(d, cut, horizon)).toMatchObject({
      state: 'pending',
      missing: ['m-b'],
    });
    await d.docs.points.delete('m-b', 'gb-1');
    await d.docs.points.create(point('m-b'));
    // A machine that joined later (m-c) is not required.
    const g = await groupRecoveryPoint(d, cut, horizon);
    expect(g).toMatchObject({
      id: 'gb-1',
      groupId: 'erp',
      time: T,
      state: 'complete',
      members: ['m-a', 'm-b'],
      missing: [],
    });
    expect(g.machines.map((p) => [p.machineId, p.id, p.disks[0]!.diskId])).toEqual([
      ['m-a', 'gb-1', 'd0'],
      ['m-b', 'gb-1', 'd0'],
    ]);
    expect(g.barrier).toBe(false); // untimed: consistent per machine only
  });

  it('is a barrier across machines only when every member held its writes at the cut', async () => {
    const d = deps();
    await d.docs.points.create({ ...point('m-a'), barrier: true });
    await d.docs.points.create(point('m-b'));
    expect(await groupRecoveryPoint(d, cut, 0)).toMatchObject({
      state: 'complete',
      barrier: false,
    });
    await d.docs.points.delete('m-b', 'gb-1');
    await d.docs.points.create({ ...point('m-b'), barrier: true });
    const g = await groupRecoveryPoint(d, cut, 0);
    expect(g.barrier).toBe(true);
    expect(g.machines.map((p) => p.barrier)).toEqual([true, true]);
  });

  it('a cut still missing members after the pick-up window is expired', async () => {
    const d = deps();
    await d.docs.points.create(point('m-a'));
    const g = await groupRecoveryPoint(d, cut, Date.parse(T) + 1);
    expect(g).toMatchObject({ state: 'expired', missing: ['m-b'] });
  });

  it("an agent's pending cuts leave out (and forget) those it already published", async () => {
    const d = deps();
    await d.docs.points.create(point('m-a', 'gb-1'));
    const forgotten: string[] = [];
    const pending = [
      { id: 'gb-1', groupId: 'erp' },
      { id: 'gb-2', groupId: 'erp' },
    ];
    const left = await cutsToInsert(d, 'm-a', pending, async (id) => {
      forgotten.push(id);
    });
    expect(left.map((c) => c.id)).toEqual(['gb-2']);
    expect(forgotten).toEqual(['gb-1']);
  });
});
