import type { AdminClient } from './client';
import { details, table } from './table';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;

/** The flags `haven group …` reads. */
export interface GroupFlags {
  member?: string[];
  description?: string;
  app?: boolean;
  /** Seconds until a cut (`--lead`). */
  lead?: string;
}

const members = (g: Row) => (g.members as { machineId: string }[]).map((m) => m.machineId);

/**
 * `haven group create|show|add|remove|delete|bookmark|points …` and `haven groups`.
 * `need(value, what)` throws the CLI's usage error when a positional is missing.
 */
export async function groupCommand(
  [sub, group, machine]: (string | undefined)[],
  v: GroupFlags,
  client: AdminClient,
  print: Print,
  need: (v: string | undefined, what: string) => string,
): Promise<void> {
  const enc = encodeURIComponent;
  const base = () => `consistency-groups/${enc(need(group, 'GROUP'))}`;
  switch (sub) {
    case undefined: {
      const gs = await client.all<Row>('consistency-groups');
      const rows = gs.map((g) => ({ ...g, members: members(g) }));
      return print(gs, () => table(rows, ['id', 'members', 'description', 'createdAt']));
    }
    case 'create': {
      const body = {
        name: need(group, 'GROUP'),
        members: v.member ?? [],
        ...(v.description ? { description: v.description } : {}),
      };
      const g = (await client.request('POST', 'consistency-groups', body)).body as Row;
      return print(g, () => `Created consistency group ${g.id} (${members(g).length} members).`);
    }
    case 'show': {
      const g = (await client.request('GET', base())).body as Row;
      return print(g, () => details({ ...g, members: members(g).join(',') || '-' }));
    }
    case 'add':
    case 'remove': {
      const path = `${base()}/members/${enc(need(machine, 'MACHINE'))}`;
      const r = await client.request(sub === 'add' ? 'PUT' : 'DELETE', path);
      const g = r.body as Row;
      const verb = sub === 'remove' ? 'Removed' : r.status === 201 ? 'Added' : 'Already member:';
      return print(g, () => `${verb} ${machine} ${sub === 'remove' ? 'from' : 'to'} ${g.id}.`);
    }
    case 'delete': {
      await client.request('DELETE', base());
      return print({ deleted: group }, () => `Deleted consistency group ${group}.`);
    }
    case 'bookmark': {
      const body = {
        consistency: v.app ? 'app' : 'crash',
        ...(v.lead === undefined ? {} : { leadSeconds: Number(v.lead) }),
      };
      const b = (await client.request('POST', `${base()}/bookmarks`, body)).body as Row;
      return print(
        b,
        () =>
          `${b.id}\n(${b.consistency} cut of ${b.groupId} for ${(b.members as string[]).join(',')} at ${String(b.cutAt)})`,
      );
    }
    case 'points': {
      const ps = await client.all<Row>(`${base()}/recovery-points`);
      return print(ps, () =>
        table(ps, ['id', 'state', 'barrier', 'consistency', 'time', 'members', 'missing']),
      );
    }
    default:
      need(
        undefined,
        `a group subcommand (create, show, add, remove, delete, bookmark, points), not '${sub}'`,
      );
  }
}
