import { randomBytes } from 'node:crypto';
import type { Collection, DocumentStore, Page } from '../documents/ports';
import { HavenError, conflict, notFound } from '../errors';
import {
  GROUP_CUT_HOLD_MS,
  GROUP_CUT_LEAD_MS,
  GROUP_CUT_TTL_MS,
  groupCollectionsDefs,
  type ConsistencyGroupDoc,
  type GroupBookmarkDoc,
  type GroupCutDoc,
  type GroupMembershipDoc,
} from './groupModel';
import type { CreateGroupBody, GroupBookmarkBody } from './groupSchemas';
import type { Machines } from './machines';

/** A group as the API shows it: the document plus its current members. */
export interface GroupView extends ConsistencyGroupDoc {
  members: { machineId: string; joinedAt: string }[];
}

/** What a member's agent needs to insert a cut into its stream. */
export type PendingCut = Pick<
  GroupCutDoc,
  'id' | 'groupId' | 'consistency' | 'createdAt' | 'cutAt' | 'holdMs'
>;

const isKind = (e: unknown, kind: string) => e instanceof HavenError && e.kind === kind;

/** Bookmark ids follow the batch header's id rules (core/batch ID_PATTERN). */
export const newGroupBookmarkId = (now: number): string => {
  const t = new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'z');
  return `gb-${t.replace('T', 't')}-${randomBytes(4).toString('hex')}`;
};

async function all<T>(page: (continuation?: string) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let continuation: string | undefined;
  do {
    const p = await page(continuation);
    out.push(...p.items.map((i) => i.doc));
    continuation = p.continuation;
  } while (continuation);
  return out;
}

/**
 * Consistency groups: create/list/get/delete, membership (a machine is in at most one group,
 * enforced by one membership document per machine), and shared cuts. The store has no
 * transactions, so every operation validates before its first write and writes in an order
 * whose partial failure is harmless or retried by the same request.
 */
export class ConsistencyGroups {
  private readonly groups: Collection<ConsistencyGroupDoc>;
  private readonly memberships: Collection<GroupMembershipDoc>;
  private readonly bookmarks: Collection<GroupBookmarkDoc>;
  private readonly cuts: Collection<GroupCutDoc>;

  constructor(
    documents: DocumentStore,
    private readonly machines: Machines,
    private readonly clock: () => number,
  ) {
    this.groups = documents.collection(groupCollectionsDefs.consistencyGroups);
    this.memberships = documents.collection(groupCollectionsDefs.groupMemberships);
    this.bookmarks = documents.collection(groupCollectionsDefs.groupBookmarks);
    this.cuts = documents.collection(groupCollectionsDefs.groupCuts);
  }

  private now = () => new Date(this.clock()).toISOString();

  private async membersOf(groupIds: string[]): Promise<GroupMembershipDoc[]> {
    if (!groupIds.length) return [];
    return all((continuation) =>
      this.memberships.query({
        where: [{ field: 'groupId', op: 'in', value: groupIds }],
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      }),
    );
  }

  private view(g: ConsistencyGroupDoc, members: GroupMembershipDoc[]): GroupView {
    return {
      ...g,
      members: members
        .filter((m) => m.groupId === g.id)
        .map((m) => ({ machineId: m.machineId, joinedAt: m.joinedAt }))
        .sort((a, b) => (a.machineId < b.machineId ? -1 : 1)),
    };
  }

  private async doc(groupId: string): Promise<ConsistencyGroupDoc> {
    const found = await this.groups.get(groupId, groupId);
    if (!found) throw notFound('Consistency group', groupId);
    return found.doc;
  }

  /** 404 for an unknown machine, 409 if it is in another group; true if it is in `groupId` already. */
  private async checkJoinable(groupId: string, machineId: string): Promise<boolean> {
    await this.machines.getDoc(machineId);
    const current = await this.memberships.get(machineId, machineId);
    if (!current) return false;
    if (!(await this.groups.get(current.doc.groupId, current.doc.groupId))) {
      // Left behind by a group delete that stopped half-way: the machine is free.
      await this.memberships.delete(machineId, machineId, { ifMatch: current.etag });
      return false;
    }
    if (current.doc.groupId === groupId) return true;
    throw conflict(
      `Machine '${machineId}' is already in consistency group '${current.doc.groupId}'.`,
      {
        machineId,
        groupId: current.doc.groupId,
      },
    );
  }

  /** Creates a group with optional members; every member is checked before anything is written. */
  async create(body: CreateGroupBody): Promise<GroupView> {
    if (await this.groups.get(body.name, body.name))
      throw conflict(`Consistency group '${body.name}' already exists.`);
    for (const m of body.members) {
      if (await this.checkJoinable(body.name, m))
        throw conflict(`Machine '${m}' is already in consistency group '${body.name}'.`);
    }
    const now = this.now();
    const doc: ConsistencyGroupDoc = {
      id: body.name,
      name: body.name,
      ...(body.description !== undefined ? { description: body.description } : {}),
      createdAt: now,
      updatedAt: now,
    };
    // Memberships a half-done delete of a same-named group left behind must not come back.
    for (const m of await this.membersOf([body.name]))
      await this.memberships.delete(m.machineId, m.machineId);
    await this.groups.create(doc);
    for (const m of body.members) await this.addMember(body.name, m);
    return this.get(body.name);
  }

  async get(groupId: string): Promise<GroupView> {
    const g = await this.doc(groupId);
    return this.view(g, await this.membersOf([groupId]));
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<{
    items: GroupView[];
    continuation?: string;
  }> {
    const res = await this.groups.query({ ...page });
    const members = await this.membersOf(res.items.map((i) => i.doc.id));
    return {
      items: res.items.map((i) => this.view(i.doc, members)),
      continuation: res.continuation,
    };
  }

  /**
   * Deletes the group, then frees its members and forgets its cuts. The group document goes
   * first, so a concurrent add (which re-checks the group after writing) backs out.
   */
  async delete(groupId: string): Promise<GroupView> {
    const group = await this.get(groupId);
    if (!(await this.groups.delete(groupId, groupId))) throw notFound('Consistency group', groupId);
    for (const m of group.members) await this.memberships.delete(m.machineId, m.machineId);
    const cuts = await all((continuation) =>
      this.cuts.query({
        where: [{ field: 'groupId', op: '=', value: groupId }],
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      }),
    );
    for (const c of cuts) await this.cuts.delete(c.machineId, c.id);
    const bookmarks = await all((continuation) =>
      this.bookmarks.query({
        partitionKey: groupId,
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      }),
    );
    for (const b of bookmarks) await this.bookmarks.delete(groupId, b.id);
    return group;
  }

  /** Adds a machine (idempotent: `added: false` if it is a member already). Later cuts include it. */
  async addMember(
    groupId: string,
    machineId: string,
  ): Promise<{ group: GroupView; added: boolean }> {
    await this.doc(groupId);
    if (await this.checkJoinable(groupId, machineId))
      return { group: await this.get(groupId), added: false };
    try {
      await this.memberships.create({ id: machineId, machineId, groupId, joinedAt: this.now() });
    } catch (e) {
      if (!isKind(e, 'conflict')) throw e;
      // A concurrent add won: same group → same answer, else 409.
      if (await this.checkJoinable(groupId, machineId))
        return { group: await this.get(groupId), added: false };
      throw e;
    }
    if (!(await this.groups.get(groupId, groupId))) {
      await this.memberships.delete(machineId, machineId); // deleted meanwhile
      throw notFound('Consistency group', groupId);
    }
    return { group: await this.get(groupId), added: true };
  }

  /** Removes a member. Cuts made while it was a member still need its point; later cuts do not. */
  async removeMember(groupId: string, machineId: string): Promise<GroupView> {
    await this.doc(groupId);
    const current = await this.memberships.get(machineId, machineId);
    if (!current || current.doc.groupId !== groupId)
      throw notFound('Member of consistency group', `${groupId}/${machineId}`);
    await this.memberships.delete(machineId, machineId, { ifMatch: current.etag });
    return this.get(groupId);
  }

  /**
   * Records a shared cut for the current members: one pending cut per member (what its agent
   * polls) first, then the group bookmark, so a listed bookmark always reached its members.
   */
  async cut(groupId: string, body: GroupBookmarkBody): Promise<GroupBookmarkDoc> {
    const group = await this.get(groupId);
    if (!group.members.length)
      throw conflict(`Consistency group '${groupId}' has no members to cut a bookmark on.`);
    const at = this.clock();
    const doc: GroupBookmarkDoc = {
      id: newGroupBookmarkId(at),
      groupId,
      members: group.members.map((m) => m.machineId),
      consistency: body.consistency,
      createdAt: new Date(at).toISOString(),
      cutAt: new Date(
        at + (body.leadSeconds ? body.leadSeconds * 1000 : GROUP_CUT_LEAD_MS),
      ).toISOString(),
      holdMs: GROUP_CUT_HOLD_MS,
    };
    for (const machineId of doc.members) {
      await this.cuts.create({
        id: doc.id,
        machineId,
        groupId,
        consistency: doc.consistency,
        createdAt: doc.createdAt,
        cutAt: doc.cutAt,
        holdMs: doc.holdMs,
        expiresAt: at + GROUP_CUT_TTL_MS,
      });
    }
    return (await this.bookmarks.create(doc)).doc;
  }

  /** The group's cuts, newest first. */
  async listBookmarks(
    groupId: string,
    page: { limit?: number; continuation?: string } = {},
  ): Promise<Page<GroupBookmarkDoc>> {
    await this.doc(groupId);
    return this.bookmarks.query({
      partitionKey: groupId,
      orderBy: [{ field: 'createdAt', direction: 'desc' }],
      ...page,
    });
  }

  async getBookmark(groupId: string, bookmarkId: string): Promise<GroupBookmarkDoc> {
    const found = await this.bookmarks.get(groupId, bookmarkId);
    if (!found) throw notFound('Group bookmark', `${groupId}/${bookmarkId}`);
    return found.doc;
  }

  /** Cuts a machine's agent has yet to insert (oldest first; at most 100). */
  async pendingCuts(machineId: string): Promise<PendingCut[]> {
    const page = await this.cuts.query({
      partitionKey: machineId,
      orderBy: [{ field: 'createdAt' }],
      limit: 100,
    });
    return page.items.map(({ doc: c }) => ({
      id: c.id,
      groupId: c.groupId,
      consistency: c.consistency,
      createdAt: c.createdAt,
      ...(c.cutAt ? { cutAt: c.cutAt, holdMs: c.holdMs } : {}),
    }));
  }

  /** The machine's part of the cut is done (its point is published). */
  async forgetCut(machineId: string, bookmarkId: string): Promise<void> {
    await this.cuts.delete(machineId, bookmarkId);
  }
}
