import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/procs';
import { useSharedLocalStack } from '../support/useLocalStack';
import { adminApi } from '../support/adminApi';
import { incidents } from './support/admin';
import {
  bookmarkIds,
  pollGroupCutsEverySecond,
  startReplicating,
  stopAgent,
  waitForGroupPoint,
} from './support/group';
import { changeFiles, fsckClean, keepCopy, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce, type Machine } from './support/machine';
import { serveDisk } from './support/serveDisk';

const SIZE_MIB = 32;

/**
 * Design §1/§6.1 for a consistency group: one cut from the control plane, inserted by two
 * agents into their own streams; the group point restores both machines to their exact bytes
 * at the cut. Membership changes only later cuts.
 */
describe(
  'consistency group end to end (stack and two agents as processes, real ext4)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-group-');
    const ms: Machine[] = [];
    const agents: Child[] = [];

    beforeAll(async () => {
      for (const name of ['app', 'db']) {
        const mdir = path.join(env.dir, name);
        mkdirSync(mdir);
        const image = path.join(mdir, 'server.img');
        makeImage(image, SIZE_MIB);
        ms.push(await protectedMachine(env.stack, mdir, image));
      }
    }, 300_000);
    afterAll(async () => {
      await Promise.all(agents.map(stopAgent));
    });

    it('a group point restores both machines to their bytes at the cut; later cuts follow membership', async () => {
      const [a, b] = ms as [Machine, Machine];
      const group = await adminApi(env.stack, 'POST', 'consistency-groups', {
        name: 'erp',
        members: [a.machineId, b.machineId],
      });
      expect(group.members).toHaveLength(2);
      agents.push(startReplicating(a), startReplicating(b));

      // Cut 1: the servers are quiet, so their bytes now are the bytes at the cut.
      const src1 = ms.map((m, i) => keepCopy(m.image, path.join(env.dir, `src1-${i}.img`)));
      const cut1 = await adminApi(env.stack, 'POST', 'consistency-groups/erp/bookmarks', {
        leadSeconds: 3,
      });
      expect(cut1.members).toEqual([a.machineId, b.machineId].sort());
      const p1 = await waitForGroupPoint(env.stack, 'erp', cut1.id, agents);
      expect(p1.machines.map((p) => [p.machineId, p.id])).toEqual(
        cut1.members.map((m: string) => [m, cut1.id]),
      );
      // A timed cut: no member inserted it before its moment, give or take its own estimate of
      // the control plane's clock (at most half the hold).
      for (const p of p1.machines)
        expect(Date.parse(p.time)).toBeGreaterThanOrEqual(Date.parse(cut1.cutAt) - cut1.holdMs / 2);

      // Both servers write; b's agent is down when cut 2 is made: the point waits for it.
      await stopAgent(agents.pop()!);
      changeFiles(a.image, 'a2', 4);
      changeFiles(b.image, 'b2', 4);
      const src2 = ms.map((m, i) => keepCopy(m.image, path.join(env.dir, `src2-${i}.img`)));
      expect(src2).not.toEqual(src1);
      // Leads of 3 s (default 10 s): the agents poll for cuts every second.
      const cut2 = await adminApi(env.stack, 'POST', 'consistency-groups/erp/bookmarks', {
        consistency: 'crash',
        leadSeconds: 3,
      });
      const half = await waitForGroupPoint(env.stack, 'erp', cut2.id, agents, {
        until: (p) => p.missing.length === 1,
      });
      expect(half).toMatchObject({ state: 'pending', missing: [b.machineId] });
      agents.push(startReplicating(b)); // learns of cut 2 when it comes back
      await waitForGroupPoint(env.stack, 'erp', cut2.id, agents);

      for (const [i, m] of ms.entries()) {
        for (const [cut, src] of [
          [cut1.id, src1[i]],
          [cut2.id, src2[i]],
        ] as const) {
          const to = path.join(env.dir, `restored-${i}-${cut}.img`);
          expect((await restore(m, cut, to)).verified).toBe(true);
          expect(sha256File(to)).toBe(src);
          expect(fsckClean(to)).toBe(true);
        }
      }

      // b leaves: cut 3 needs only a, and is complete without b.
      await adminApi(env.stack, 'DELETE', `consistency-groups/erp/members/${b.machineId}`);
      changeFiles(a.image, 'a3', 2);
      const src3 = keepCopy(a.image, path.join(env.dir, 'src3-a.img'));
      const cut3 = await adminApi(env.stack, 'POST', 'consistency-groups/erp/bookmarks', {
        leadSeconds: 3,
      });
      expect(cut3.members).toEqual([a.machineId]);
      const p3 = await waitForGroupPoint(env.stack, 'erp', cut3.id, agents);
      expect(p3.machines.map((p) => p.machineId)).toEqual([a.machineId]);
      const r3 = path.join(env.dir, 'restored-a-3.img');
      await restore(a, cut3.id, r3);
      expect(sha256File(r3)).toBe(src3);

      const list = await adminApi(env.stack, 'GET', 'consistency-groups/erp/recovery-points');
      expect(list.items.map((p: { id: string; state: string }) => [p.id, p.state])).toEqual([
        [cut3.id, 'complete'],
        [cut2.id, 'complete'],
        [cut1.id, 'complete'],
      ]);
      // Each agent inserted each of its cuts exactly once (it polled every second meanwhile).
      const mine = [
        [cut1.id, cut2.id, cut3.id],
        [cut1.id, cut2.id],
      ];
      for (const [i, m] of ms.entries()) expect(bookmarkIds(m).sort()).toEqual(mine[i]!.sort());
      // The data path refused nothing on the way.
      for (const m of ms) expect((await incidents(env.stack, m.machineId)).rejections).toEqual([]);
    });

    it('a timed cut through the write splitter holds both machines at once: the group point is a barrier and restores exact', async () => {
      const pair: Machine[] = [];
      for (const name of ['web', 'sql']) {
        const mdir = path.join(env.dir, name);
        mkdirSync(mdir);
        makeImage(path.join(mdir, 'server.img'), 16);
        const m = await protectedMachine(env.stack, mdir, path.join(mdir, 'server.img'));
        await runOnce(m); // replicated: serve-disk takes over without an initial sync
        pollGroupCutsEverySecond(m);
        pair.push(m);
      }
      await adminApi(env.stack, 'POST', 'consistency-groups', {
        name: 'shop',
        members: pair.map((m) => m.machineId),
      });
      const served = await Promise.all(pair.map((m) => serveDisk(m)));
      agents.push(...served);
      await Promise.all(served.map((s, i) => s.write(0x21 + i, (2 + i) * 2 ** 20)));
      const cut = await adminApi(env.stack, 'POST', 'consistency-groups/shop/bookmarks', {
        leadSeconds: 5,
      });
      const p = await waitForGroupPoint(env.stack, 'shop', cut.id, served);
      expect(p.barrier, served.map((s) => s.out.stderr.slice(-2000)).join('\n')).toBe(true);
      expect(p.machines.every((x) => Date.parse(x.time) >= Date.parse(cut.cutAt) - 50)).toBe(true);
      // Quiet since their writes: each image now is its bytes at the cut.
      const src = pair.map((m) => sha256File(m.image));
      await Promise.all(served.map(stopAgent));
      for (const [i, m] of pair.entries()) {
        const to = path.join(env.dir, `restored-shop-${i}.img`);
        expect((await restore(m, cut.id, to)).verified).toBe(true);
        expect(sha256File(to)).toBe(src[i]);
      }
    });
  },
);
