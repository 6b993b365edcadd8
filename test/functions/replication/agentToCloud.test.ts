import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminApi, enrollmentToken } from '../../support/adminApi';
import { enrollWithDisk } from '../../support/machines';
import { agentJson } from '../../support/procs';
import { sharedLocalStack } from '../../support/stack';

const MiB = 1024 * 1024;

/**
 * The real agent CLI against the local stack: enroll, add a disk image, protect, `run --once`
 * (initial sync → Event Hubs with the agent's own ingest token → ingest → hydrate → point),
 * then `restore` through the read URL; the restored image equals the source, twice (after a
 * change, the second point carries only the delta).
 */
describe('agent → cloud → restore', () => {
  it('replicates a disk image and restores each point byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-a2c-'));
    const stack = await sharedLocalStack();
    const token = await enrollmentToken(stack);

    // A 6 MiB image: random data, a zero hole, more data.
    const image = join(dir, 'disk.img');
    const src = Buffer.alloc(6 * MiB);
    randomBytes(2 * MiB).copy(src, 0);
    randomBytes(1 * MiB + 4096).copy(src, 4 * MiB);
    writeFileSync(image, src);

    const stateDir = join(dir, 'agent');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const run = (args: string[]): Promise<any> => agentJson([...args, '--state-dir', stateDir]);
    const enrolled = await enrollWithDisk({
      api: stack.apiUrl,
      token,
      stateDir,
      image,
      name: 'a2c',
    });
    const disk = { id: enrolled.diskId };
    await adminApi(stack, 'POST', `machines/${enrolled.machineId}/protect`, {});

    const first = await run(['run', '--once']);
    const p1 = first.recoveryPoint.id as string;
    const out1 = join(dir, 'restore1.img');
    const r1 = await run(['restore', '--point', p1, '--disk', disk.id, '--to', out1]);
    expect(r1.verified).toBe(true);
    expect(readFileSync(out1).equals(src)).toBe(true);

    // Change a few blocks; the next point has exactly them.
    randomBytes(8192).copy(src, 5 * MiB + 512);
    src.fill(0, 0, 64 * 1024);
    writeFileSync(image, src);
    const second = await run(['run', '--once']);
    const p2 = second.recoveryPoint.id as string;
    expect(p2).not.toBe(p1);
    const out2 = join(dir, 'restore2.img');
    const r2 = await run(['restore', '--point', p2, '--disk', disk.id, '--to', out2]);
    expect(r2.verified).toBe(true);
    expect(readFileSync(out2).equals(src)).toBe(true);
    // The first point still restores the first image.
    const again = await run([
      'restore',
      '--point',
      p1,
      '--disk',
      disk.id,
      '--to',
      join(dir, 'restore1b.img'),
    ]);
    expect(again.verified).toBe(true);

    const m = await adminApi(stack, 'GET', `machines/${enrolled.machineId}`);
    expect(m.protection?.state).toBe('protected');
    expect(m.health.lastPoint.id).toBe(p2);
  });
});
