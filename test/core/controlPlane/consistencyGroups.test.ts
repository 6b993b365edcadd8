import { describe, expect, it } from 'vitest';
import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import { createControlPlane } from '../../../core/controlPlane/controlPlane';
import { collectionsDefs, type MachineDoc } from '../../../core/controlPlane/model';
import {
  GROUP_CUT_HOLD_MS,
  GROUP_CUT_LEAD_MS,
  GROUP_CUT_TTL_MS,
  groupCollectionsDefs,
} from '../../../core/controlPlane/groupModel';
import { ID_PATTERN } from '../../../core/batch';
import { transient } from '../../../core/errors';
import { MissingKeyWrapper } from '../../../core/controlPlane/machineKeys';

async function plane() {
  let now = Date.parse('2026-12-01T10:00:00.000Z');
  const documents = new MemoryDocumentStore(() => now);
  const cp = createControlPlane({
    documents,
    clock: () => now,
    keyWrapper: new MissingKeyWrapper(),
    ingest: {
      issue: async () => {
        throw transient('no');
      },
    },
    probes: [],
  });
  const machines = documents.collection<MachineDoc>(collectionsDefs.machines);
  for (const id of ['m-a', 'm-b', 'm-c']) {
    await machines.create({
      id,
      siteId: 's',
      hostname: id,
      os: 'linux',
      enrolledAt: new Date(now).toISOString(),
      credentialHash: 'x',
      keyId: 'k',
    });
  }
  return { cp, groups: cp.groups, documents, advance: (ms: number) => (now += ms) };
}

const kindOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { kind?: string }) => e.kind ?? String(e),
  );

describe('consistency groups (memory store)', () => {
  it('creates with members, lists, gets; a machine is in at most one group', async () => {
    const { groups } = await plane();
    const g = await groups.create({
      name: 'erp',
      description: 'ERP tier',
      members: ['m-b', 'm-a'],
    });
    expect(g.members.map((m) => m.machineId)).toEqual(['m-a', 'm-b']);
    expect(await kindOf(groups.create({ name: 'erp', members: [] }))).toBe('conflict');
    // m-a is taken: the whole create is refused and nothing is written.
    expect(await kindOf(groups.create({ name: 'web', members: ['m-c', 'm-a'] }))).toBe('conflict');
    expect(await kindOf(groups.get('web'))).toBe('not-found');
    expect((await groups.get('erp')).members).toHaveLength(2);
    expect(await kindOf(groups.create({ name: 'web', members: ['m-zz'] }))).toBe('not-found');
    expect(await kindOf(groups.get('web'))).toBe('not-found');

    await groups.create({ name: 'web', members: [] });
    expect(await kindOf(groups.addMember('web', 'm-a'))).toBe('conflict');
    expect(await groups.addMember('web', 'm-c')).toMatchObject({ added: true });
    expect(await groups.addMember('web', 'm-c')).toMatchObject({ added: false });
    expect(await kindOf(groups.addMember('nope', 'm-c'))).toBe('not-found');
    expect(await kindOf(groups.addMember('web', 'm-zz'))).toBe('not-found');
    const list = await groups.list({ limit: 1 });
    expect(list.items.map((x) => x.id)).toEqual(['erp']);
    const rest = await groups.list({ limit: 1, continuation: list.continuation });
    expect(rest.items.map((x) => [x.id, x.members.map((m) => m.machineId)])).toEqual([
      ['web', ['m-c']],
    ]);

    expect(await kindOf(groups.removeMember('web', 'm-a'))).toBe('not-found');
    expect((await groups.removeMember('erp', 'm-a')).members.map((m) => m.machineId)).toEqual([
      'm-b',
    ]);
    expect((await groups.addMember('web', 'm-a')).added).toBe(true);
  });

  it('a cut records the members at cut time; joiners and leavers change only later cuts', async () => {
    const { groups, advance } = await plane();
    await groups.create({ name: 'erp', members: ['m-a', 'm-b'] });
    const c1 = await groups.cut('erp', { consistency: 'app' });
    expect(c1.id).toMatch(ID_PATTERN);
    expect(c1).toMatchObject({ groupId: 'erp', members: ['m-a', 'm-b'], consistency: 'app' });
    advance(1000);
    await groups.removeMember('erp', 'm-b');
    await groups.addMember('erp', 'm-c');
    const c2 = await groups.cut('erp', { consistency: 'crash' });
    expect(c2.members).toEqual(['m-a', 'm-c']);
    expect(c2.id).not.toBe(c1.id);

    // m-b left after c1: it must still insert c1, but not c2. m-c joined after c1.
    const ids = async (m: string) => (await groups.pendingCuts(m)).map((c) => c.id);
    expect(await ids('m-a')).toEqual([c1.id, c2.id]);
    expect(await ids('m-b')).toEqual([c1.id]);
    expect(await ids('m-c')).toEqual([c2.id]);
    // Timed: each member inserts the cut 10 s after the request, then holds writes 100 ms.
    const timing = (c: { createdAt: string }) => ({
      cutAt: new Date(Date.parse(c.createdAt) + GROUP_CUT_LEAD_MS).toISOString(),
      holdMs: GROUP_CUT_HOLD_MS,
    });
    expect(c1).toMatchObject(timing(c1));
    expect(await groups.pendingCuts('m-a')).toEqual([
      { id: c1.id, groupId: 'erp', consistency: 'app', createdAt: c1.createdAt, ...timing(c1) },
      { id: c2.id, groupId: 'erp', consistency: 'crash', createdAt: c2.createdAt, ...timing(c2) },
    ]);
    await groups.forgetCut('m-a', c1.id);
    expect(await ids('m-a')).toEqual([c2.id]);

    const listed = await groups.listBookmarks('erp');
    expect(listed.items.map((b) => b.doc.id)).toEqual([c2.id, c1.id]);
    expect((await groups.getBookmark('erp', c1.id)).members).toEqual(['m-a', 'm-b']);
    expect(await kindOf(groups.getBookmark('erp', 'gb-none'))).toBe('not-found');

    // An agent that stays away past the pick-up window no longer sees the cut.
    advance(GROUP_CUT_TTL_MS + 1);
    expect(await ids('m-b')).toEqual([]);
  });

  it('a membership left behind by a half-done group delete does not hold the machine', async () => {
    const { groups, documents } = await plane();
    await groups.create({ name: 'erp', members: ['m-a', 'm-b'] });
    // The delete stopped after the group document (it goes first).
    await documents.collection(groupCollectionsDefs.consistencyGroups).delete('erp', 'erp');
    expect(await kindOf(groups.addMember('web-missing', 'm-a'))).toBe('not-found');
    await groups.create({ name: 'web', members: [] });
    expect(await groups.addMember('web', 'm-a')).toMatchObject({ added: true });
    // Recreating 'erp' does not resurrect m-b's old membership.
    await groups.create({ name: 'erp', members: ['m-c'] });
    expect((await groups.get('erp')).members.map((m) => m.machineId)).toEqual(['m-c']);
    expect(await groups.addMember('erp', 'm-b')).toMatchObject({ added: true });
  });

  it('refuses a cut on an empty or unknown group; delete frees members and forgets cuts', async () => {
    const { groups } = await plane();
    await groups.create({ name: 'erp', members: [] });
    expect(await kindOf(groups.cut('erp', { consistency: 'crash' }))).toBe('conflict');
    expect(await kindOf(groups.cut('nope', { consistency: 'crash' }))).toBe('not-found');
    expect((await groups.listBookmarks('erp')).items).toEqual([]);
    await groups.addMember('erp', 'm-a');
    await groups.cut('erp', { consistency: 'crash' });
    await groups.delete('erp');
    expect(await kindOf(groups.get('erp'))).toBe('not-found');
    expect(await kindOf(groups.delete('erp'))).toBe('not-found');
    expect(await groups.pendingCuts('m-a')).toEqual([]);
    // m-a is free again.
    await groups.create({ name: 'erp2', members: ['m-a'] });
    expect((await groups.listBookmarks('erp2')).items).toEqual([]);
  });
});
