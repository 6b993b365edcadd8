import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminApi } from '../support/adminApi';
import { useSharedLocalStack } from '../support/useLocalStack';
import { firstOf, waitFor } from '../support/waitFor';
import { incidents } from './support/admin';
import { captureRun, publish, waitForPoint } from './support/delivery';
import { controlRequest } from '../../edge-agent/nbd/controlClient';
import type { RecoveryPoint } from '../../edge-agent/controlPlaneClient';
import { changeFiles, keepCopy, makeImage, sha256File } from './support/images';
import { expectRestores, expectResynced, generationOf } from './support/resyncChecks';
import { agentJsonOn, protectedMachine, runOnce, type Machine } from './support/machine';
import { serveDisk } from './support/serveDisk';
import { plantStaged } from './support/storage';

const MiB = 2 ** 20;

interface ResyncReply {
  disk: { id: string; generation: number; sizeBytes: number };
  job: { id: string; type: string } | null;
  item: { state: string } | null;
  created: boolean;
}

/** Design §2 "Generations and resync": a new generation into a fresh replica; older points stay. */
describe(
  'resync end to end (stack and agent as processes, real ext4)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-resync-');

    async function machine(name: string, sizeMiB: number): Promise<Machine> {
      const mdir = mkdtempSync(path.join(env.dir, `${name}-`));
      const image = path.join(mdir, 'server.img');
      makeImage(image, sizeMiB);
      return protectedMachine(env.stack, mdir, image);
    }

    const resync = (m: Machine, body: Record<string, unknown> = {}) =>
      adminApi<ResyncReply>(
        env.stack,
        'POST',
        `machines/${m.machineId}/disks/${m.diskId}/resync`,
        body,
      );

    it('operator resync: the agent replicates generation 2 into a fresh replica; both points restore exact', async () => {
      const m = await machine('operator', 16);
      const p1 = await runOnce(m);
      const src1 = keepCopy(m.image, path.join(path.dirname(m.image), 'p1.img'));
      expect(generationOf(p1)).toBe(1);

      changeFiles(m.image, 'after-p1', 3);
      const r = await resync(m, { reason: 'e2e', idempotencyKey: 'op-1' });
      expect(r).toMatchObject({
        created: true,
        disk: { generation: 2 },
        job: { type: 'resync' },
        item: { state: 'initial-sync' },
      });
      // Asking again (same key, or none while it is pending) answers the same generation.
      const again = await resync(m, { idempotencyKey: 'op-1' });
      expect(again).toMatchObject({
        created: false,
        disk: { generation: 2 },
        job: { id: r.job!.id },
      });
      expect((await resync(m)).disk.generation).toBe(2);

      const p2 = await runOnce(m);
      const src2 = sha256File(m.image);
      expect(generationOf(p2)).toBe(2);
      await expectRestores(m, p2, src2);
      await expectRestores(m, p1, src1); // generation 1's point is still readable
      await expectResynced(env.stack, m, r.job!.id);

      // Replication goes on in generation 2.
      changeFiles(m.image, 'after-p2', 2);
      const p3 = await runOnce(m);
      expect(generationOf(p3)).toBe(2);
      await expectRestores(m, p3, sha256File(m.image));

      const inc = await incidents(env.stack, m.machineId);
      expect(inc.rejections).toEqual([]);
      expect(inc.alerts).toEqual([]);
      expect(inc.disks.map((d) => d.generation).sort()).toEqual([1, 2]);
    });

    it('a disk stopped by an integrity incident recovers through a resync', async () => {
      const m = await machine('incident', 8);
      const p1 = await runOnce(m);
      const src1 = sha256File(m.image);

      // One corrupted staged batch stops generation 1 (core/replication/incidents.ts).
      changeFiles(m.image, 'rot', 2);
      const batches = await captureRun(m, path.join(path.dirname(m.image), 'capture'));
      const first = batches[0]!;
      const bad = Buffer.from(first.envelope);
      bad[bad.length - 20]! ^= 0x40;
      await plantStaged(env.stack, m, first.seq, bad, first.envelope, true);
      await publish(
        m,
        batches.map((b) => b.envelope),
      );
      await waitFor(
        'generation 1 stopped',
        async () =>
          (await incidents(env.stack, m.machineId)).disks.some(
            (d) => d.generation === 1 && d.stopped,
          ),
        { timeoutMs: 150_000, intervalMs: 250 },
      );

      const r = await resync(m, { reason: 'after replication-integrity incident' });
      expect(r.disk.generation).toBe(2);
      const p2 = await runOnce(m);
      expect(generationOf(p2)).toBe(2);
      await expectRestores(m, p2, sha256File(m.image));
      await expectRestores(m, p1, src1);
      await expectResynced(env.stack, m, r.job!.id);
    });

    it('a resized disk replicates as a new generation of the new size and restores exact', async () => {
      const m = await machine('resize', 16);
      const p1 = await runOnce(m);
      const src1 = sha256File(m.image);

      execFileSync('truncate', ['-s', `${24 * MiB}`, m.image]);
      execFileSync('e2fsck', ['-fy', m.image], { stdio: 'ignore' });
      execFileSync('resize2fs', [m.image], { stdio: 'ignore' });
      changeFiles(m.image, 'grown', 3);
      const added = await agentJsonOn<{ id: string; sizeBytes: number; generation: number }>(m, [
        'disk',
        'add',
        m.image,
      ]);
      expect(added).toMatchObject({ id: m.diskId, sizeBytes: 24 * MiB, generation: 2 });

      const p2 = await runOnce(m);
      expect(p2.disks?.[0]).toMatchObject({ generation: 2, sizeBytes: 24 * MiB });
      await expectRestores(m, p2, sha256File(m.image));
      await expectRestores(m, p1, src1); // the 16 MiB generation-1 point
      const job = (
        await adminApi<{ disks: { id: string; resync?: { jobId?: string } }[] }>(
          env.stack,
          'GET',
          `machines/${m.machineId}`,
        )
      ).disks.find((d) => d.id === m.diskId)!.resync!.jobId!;
      await expectResynced(env.stack, m, job);
    });

    it('serve-disk follows a resync while it serves: only the agent restarts, the whole disk goes into generation 2, both points restore exact', async () => {
      const m = await machine('served', 16);
      await runOnce(m); // the replica has the disk: serve-disk starts without an initial sync
      const server = await serveDisk(m, { HAVEN_AGENT_GENERATION_POLL_MS: '300' });
      const { ctl, write } = server;
      try {
        /**
         * Cuts bookmarks until one becomes a point. A bookmark cut while a resync scan fills the
         * new generation describes no state of its replica: the agent drops it, and says so.
         * Each cut must end one way or the other; the dropped ones are returned.
         */
        const point = async (tag: string): Promise<{ p: RecoveryPoint; dropped: string[] }> => {
          const dropped: string[] = [];
          for (let i = 0; i < 20; i++) {
            const id = `${tag}-${i}`;
            expect(await controlRequest(ctl, { op: 'bookmark', id })).toMatchObject({ ok: true });
            const p = await firstOf<RecoveryPoint | undefined>(
              (signal) => waitForPoint(m, id, 120_000, signal),
              (signal) =>
                server
                  .waitForOutput(`bookmark ${id} dropped: it falls inside a resync`, {
                    signal,
                    timeoutMs: 120_000,
                  })
                  .then(() => undefined),
            );
            if (p) return { p, dropped };
            dropped.push(id);
          }
          throw new Error(`no point for ${tag}: ${server.out.stderr.slice(-3000)}`);
        };

        await write(0x5a, 3 * MiB);
        const gen1 = await point('gen1');
        expect(gen1.dropped).toEqual([]); // no resync running: nothing to drop
        const src1 = sha256File(m.image);
        expect(generationOf(gen1.p)).toBe(1);

        const r = await resync(m, { reason: 'e2e: serve-disk follows' });
        expect(r.disk.generation).toBe(2);
        await server.waitForOutput('restarting replication', { timeoutMs: 120_000 });
        await write(0xa5, 9 * MiB);
        const gen2 = await point('gen2');
        // Cuts are made one at a time, so only the few that fall inside the one resync scan
        // (16 MiB) can be dropped, each of them reported.
        expect(gen2.dropped.length, gen2.dropped.join(',')).toBeLessThanOrEqual(3);
        const p1 = gen1.p;
        const p2 = gen2.p;
        const src2 = sha256File(m.image);
        expect(generationOf(p2)).toBe(2);

        server.child.kill('SIGTERM');
        expect((await server.done).code).toBe(0);
        await expectRestores(m, p2, src2, false); // pattern writes: raw bytes, not ext4
        await expectRestores(m, p1, src1, false);
        await expectResynced(env.stack, m, r.job!.id);
        const inc = await incidents(env.stack, m.machineId);
        expect(inc.rejections).toEqual([]);
        expect(inc.alerts).toEqual([]);
      } finally {
        server.child.kill('SIGKILL');
      }
    });
  },
);
