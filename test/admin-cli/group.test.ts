import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHost } from '../../local/host/startHost';
import { runCli, startCliHost } from './support';

let host: RunningHost;
let cwd: string;

/** Runs the CLI in-process with `cwd` holding .haven/local.env, as `haven …` would. */
const haven = (...argv: string[]) => runCli(cwd, argv);

/** A machine enrolled over real HTTP through the host, as the agent does. */
async function enrolled(): Promise<{ machineId: string; credential: string }> {
  const t = JSON.parse((await haven('token', 'create', '--site', 'dc1', '--json')).out);
  const res = await fetch(`${host.baseUrl}/api/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: t.token, hostname: 'h', os: 'linux' }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { machineId: string; credential: string };
}

beforeAll(async () => {
  ({ host, cwd } = await startCliHost('cligrp'));
  expect((await haven('site', 'create', 'dc1')).code).toBe(0);
});
afterAll(() => host?.stop());

describe('haven group (admin CLI through the local host)', () => {
  it('create, add, remove, bookmark, points; the agent route sees the cut; refusals exit 1', async () => {
    const [a, b] = [await enrolled(), await enrolled()];
    expect(await haven('group', 'create', 'erp', '--member', a.machineId)).toMatchObject({
      code: 0,
      out: 'Created consistency group erp (1 members).',
    });
    expect(await haven('group', 'add', 'erp', b.machineId)).toMatchObject({
      code: 0,
      out: `Added ${b.machineId} to erp.`,
    });
    const groups = await haven('groups');
    expect(groups.out).toMatch(
      new RegExp(`erp\\s+(${a.machineId},${b.machineId}|${b.machineId},${a.machineId})`),
    );

    // A machine is in at most one group: problem+json 409 → exit 1 with its detail.
    expect((await haven('group', 'create', 'web')).code).toBe(0);
    const taken = await haven('group', 'add', 'web', a.machineId);
    expect(taken.code).toBe(1);
    expect(taken.err).toMatch(/Conflict: .*already in consistency group 'erp'/);
    expect((await haven('group', 'add', 'web')).code).toBe(2);

    const bm = await haven('group', 'bookmark', 'erp', '--app', '--lead', '30', '--json');
    expect(bm.code).toBe(0);
    const cut = JSON.parse(bm.out) as {
      id: string;
      consistency: string;
      members: string[];
      createdAt: string;
      cutAt: string;
    };
    expect(cut.consistency).toBe('app');
    expect(Date.parse(cut.cutAt) - Date.parse(cut.createdAt)).toBe(30_000);

    // The member's agent learns of it over its own credential.
    const res = await fetch(`${host.baseUrl}/api/machines/${b.machineId}/group-bookmarks`, {
      headers: { authorization: `Bearer ${b.credential}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: { id: string }[] }).items.map((x) => x.id)).toEqual([
      cut.id,
    ]);
    const denied = await fetch(`${host.baseUrl}/api/machines/${b.machineId}/group-bookmarks`, {
      headers: { authorization: `Bearer ${a.credential}` },
    });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');

    const points = await haven('group', 'points', 'erp');
    expect(points.out.split('\n')[0]).toMatch(
      /^ID\s+STATE\s+BARRIER\s+CONSISTENCY\s+TIME\s+MEMBERS\s+MISSING$/,
    );
    expect(points.out).toMatch(new RegExp(`${cut.id}\\s+pending\\s+false\\s+app`));

    expect(await haven('group', 'remove', 'erp', a.machineId)).toMatchObject({
      code: 0,
      out: `Removed ${a.machineId} from erp.`,
    });
    expect((await haven('group', 'add', 'web', a.machineId)).code).toBe(0);
    expect(await haven('group', 'delete', 'erp')).toMatchObject({ code: 0 });
    expect((await haven('group', 'show', 'erp')).code).toBe(1);
    expect((await haven('group', 'frobnicate', 'web')).code).toBe(2);
  });
});
