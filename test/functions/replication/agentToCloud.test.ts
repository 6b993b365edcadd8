import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../../local/stack/startLocalStack';
import { agent } from '../../edge-agent/support/runAgent';

const MiB = 1024 * 1024;

/**
 * The real agent CLI against the local stack: enroll, add a disk image, protect, `run --once`
 * (initial sync → Event Hubs with the agent's own ingest token → ingest → hydrate → point),
 * then `restore` through the read URL; the restored image equals the source, twice (after a
 * change, the second point carries only the delta).
 */
describe('agent → cloud → restore', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('replicates a disk image and restores each point byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-a2c-'));
    stack = await startLocalStack({
      stateDir: join(dir, 'stack'),
      persistent: false,
      port: 0,
      entry: [join(__dirname, '../../../functions/index.ts')],
    });
    const admin = {
      'x-functions-key': stack.settings.HAVEN_ADMIN_KEY!,
      'content-type': 'application/json',
    };
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack!.apiUrl}/${path}`, {
        method,
        headers: admin,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    expect((await api('POST', 'sites', { name: 'lab' })).status).toBe(201);
    const token = (await api('POST', 'sites/lab/enrollment-tokens', {})).json.token;

    // A 6 MiB image: random data, a zero hole, more data.
    const image = join(dir, 'disk.img');
    const src = Buffer.alloc(6 * MiB);
    randomBytes(2 * MiB).copy(src, 0);
    randomBytes(1 * MiB + 4096).copy(src, 4 * MiB);
    writeFileSync(image, src);

    const state = ['--state-dir', join(dir, 'agent')];
    const run = async (args: string[]) => {
      const r = await agent([...args, ...state, '--json']);
      expect(r.code, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    };
    const enrolled = await run([
      'enroll',
      '--api',
      stack.apiUrl,
      '--token',
      token,
      '--name',
      'a2c',
    ]);
    const disk = await run(['disk', 'add', image]);
    expect((await api('POST', `machines/${enrolled.machineId}/protect`, {})).status).toBeLessThan(
      300,
    );

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

    const m = await api('GET', `machines/${enrolled.machineId}`);
    expect(m.json.protection?.state).toBe('protected');
    expect(m.json.health.lastPoint.id).toBe(p2);
  });
});
