import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningHost } from '../../local/host/startHost';
import { run } from '../../admin-cli/main';
import { parseDuration } from '../../admin-cli/duration';
import { spawnNode } from '../support/procs';
import { runCli, startCliHost } from './support';

let masterKey: string;
let host: RunningHost;
let cwd: string;

/** Runs the CLI in-process with `cwd` holding .haven/local.env, as `haven …` would. */
const haven = (...argv: string[]) => runCli(cwd, argv);

beforeAll(async () => {
  ({ host, cwd, masterKey } = await startCliHost('cli'));
});
afterAll(() => host?.stop());

describe('haven admin CLI against the local host', () => {
  it('site, token, enroll (agent side), machines, machine, policy, protect, job', async () => {
    expect(await haven('site', 'create', 'dc1', '--description', 'Main DC')).toMatchObject({
      code: 0,
      out: 'Created site dc1.',
    });
    const sites = await haven('sites');
    expect(sites.out.split('\n')[0]).toMatch(/^ID\s+DESCRIPTION\s+CREATEDAT$/);
    expect(sites.out).toMatch(/dc1\s+Main DC/);

    const tok = await haven('token', 'create', '--site', 'dc1', '--ttl', '10m', '--json');
    expect(tok.code).toBe(0);
    const { token, expiresAt } = JSON.parse(tok.out);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000);

    // The agent's side of enrollment, over real HTTP through the host (anonymous route).
    const res = await fetch(`${host.baseUrl}/api/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token,
        hostname: 'db1',
        os: 'linux',
        disks: [
          { id: 'sda', sizeBytes: 1 << 20, logicalSectorSize: 512 },
          { id: 'sdb', sizeBytes: 1 << 20, logicalSectorSize: 512 },
        ],
      }),
    });
    expect(res.status).toBe(201);
    const { machineId, credential } = (await res.json()) as {
      machineId: string;
      credential: string;
    };
    const hb = await fetch(`${host.baseUrl}/api/machines/${machineId}/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
      body: JSON.stringify({ agentVersion: '0.9.0', disks: [] }),
    });
    expect(hb.status).toBe(200);

    const machines = await haven('machines', '--site', 'dc1');
    expect(machines.out).toMatch(new RegExp(`${machineId}\\s+dc1\\s+db1\\s+linux\\s+0\\.9\\.0`));
    const machine = await haven('machine', machineId);
    expect(machine.out).toMatch(/hostname\s+db1/);
    expect(machine.out).toMatch(/sda\s+1048576\s+512/);

    expect(
      await haven(
        'policy',
        'set',
        'gold',
        '--crash-interval',
        '5s',
        '--app-interval',
        '1h',
        '--retention',
        '24h',
        '--thinning',
        'hourly:24h,daily:7d',
      ),
    ).toMatchObject({ code: 0, out: 'Created policy gold.' });
    expect(
      await haven('policy', 'set', 'gold', '--rpo-alert', '2m', '--hydration-lag-alert', '5m'),
    ).toMatchObject({
      code: 0,
      out: 'Updated policy gold.',
    });
    const policies = await haven('policies');
    expect(policies.out).toMatch(/gold\s+5s\s+1h\s+1d\s+hourly:1d,daily:1w\s+2m\s+5m/);
    const pj = JSON.parse((await haven('policies', '--json')).out);
    expect(pj.find((p: { name: string }) => p.name === 'gold')).toMatchObject({
      crashIntervalSeconds: 5,
      retentionHours: 24,
      rpoAlertSeconds: 120,
      hydrationLagAlertSeconds: 300,
      thinning: [
        { keep: 'hourly', forHours: 24 },
        { keep: 'daily', forHours: 168 },
      ],
    });

    const p = await haven(
      'protect',
      machineId,
      '--disk',
      'sda',
      '--disk',
      'sdb',
      '--policy',
      'gold',
    );
    expect(p.code).toBe(0);
    expect(p.out).toMatch(
      new RegExp(
        `^Protection enabling: ${machineId} disks sda,sdb policy gold, state enabling; job (job-\\w+)$`,
      ),
    );
    const jobId = /job (job-\w+)$/.exec(p.out)![1]!;
    expect(
      (await haven('protect', machineId, '--disk', 'sdb', '--disk', 'sda', '--policy', 'gold')).out,
    ).toMatch(/^Already protected/);
    const conflict = await haven('protect', machineId, '--disk', 'sda');
    expect(conflict.code).toBe(1);
    expect(conflict.err).toBe(
      `haven: Conflict: Machine '${machineId}' is already protected with other settings.`,
    );
    const job = await haven('job', jobId);
    expect(job.out).toMatch(new RegExp(`^job ${jobId} enable-protection: queued`));

    // Resync of a disk: its next generation (the item stays with the enable job meanwhile).
    const rs = await haven('resync', machineId, 'sda', '--reason', 'cli test');
    expect(rs.out).toMatch(/^Resync started: disk sda generation 2, item enabling; job job-\w+$/);
    expect((await haven('resync', machineId, 'sda')).out).toMatch(
      /^Already resyncing: disk sda generation 2/,
    );
    expect((await haven('machine', machineId)).out).toMatch(/sda\s+\d+\s+512\s+2\s/);
    expect((await haven('resync', machineId)).err).toMatch(/Missing DISK/);

    // No Durable extension in this host: the enable job never started, so unprotect disables
    // the item itself and the enable job ends cancelled. Repeating it answers the same.
    const off = `Protection disabled: ${machineId} disks sda,sdb policy gold, state disabled; job ${jobId}`;
    expect(await haven('unprotect', machineId)).toMatchObject({ code: 0, out: off });
    expect(await haven('unprotect', machineId)).toMatchObject({ code: 0, out: off });
    expect((await haven('job', jobId)).out).toMatch(
      new RegExp(`^job ${jobId} enable-protection: cancelled`),
    );
    expect(await haven('unprotect', 'm-nope')).toMatchObject({
      code: 1,
      err: "haven: Not found: Machine 'm-nope' does not exist.",
    });
    expect((await haven('unprotect')).err).toMatch(/Missing MACHINE/);
    expect(await haven('resync', machineId, 'sdb')).toMatchObject({
      code: 1,
      err: `haven: Conflict: Disk 'sdb' of machine '${machineId}' is not replicating; nothing to resync.`,
    });
  });

  it('prints one-line problems and exits non-zero', async () => {
    const missing = await haven('machine', 'm-nope');
    expect(missing).toMatchObject({
      code: 1,
      err: "haven: Not found: Machine 'm-nope' does not exist.",
    });
    const bad = await haven('site', 'create', 'Not Valid');
    expect(bad.code).toBe(1);
    expect(bad.err.split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/^haven: Invalid request: .*name/);
    const noKey = await run(['sites'], { cwd: tmpdir(), env: {}, out: () => {}, err: () => {} });
    expect(noKey).toBe(2); // no API configured
    const wrongKey: string[] = [];
    expect(
      await run(['sites', '--api', host.baseUrl, '--key', 'wrong'], {
        cwd,
        env: {},
        out: () => {},
        err: (t) => wrongKey.push(t),
      }),
    ).toBe(1);
    expect(wrongKey[0]).toMatch(/^haven: Unauthenticated: /);
    expect((await haven('frobnicate')).code).toBe(2);
    expect((await haven('sites', '--bogus')).code).toBe(2);
    expect((await haven('token', 'create')).err).toMatch(/Missing --site ID/);
    const down = await run(['sites', '--api', 'http://127.0.0.1:9'], {
      cwd,
      env: {},
      out: () => {},
      err: (t) => wrongKey.push(t),
    });
    expect(down).toBe(1);
    expect(wrongKey.at(-1)).toMatch(/^haven: Cannot reach the Haven API/);
  });

  it('the host enforces the function key on admin routes only', async () => {
    const api = `${host.baseUrl}/api`;
    const protect = await fetch(`${api}/machines/m-x/protect`, { method: 'POST', body: '{}' });
    expect(protect.status).toBe(401);
    expect(protect.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${api}/sites`)).status).toBe(401);
    expect(
      (await fetch(`${api}/sites`, { headers: { 'x-functions-key': masterKey } })).status,
    ).toBe(200);
    expect((await fetch(`${api}/openapi.json`)).status).toBe(200);
    expect([200, 503]).toContain((await fetch(`${api}/health`)).status);
    // Machine routes are anonymous for the host; the app itself demands the credential.
    const hb = await fetch(`${api}/machines/m-x/heartbeat`, { method: 'POST', body: '{}' });
    expect(hb.status).toBe(401);
    expect(((await hb.json()) as { type: string }).type).toBe(
      'https://haven.dev/problems/unauthenticated',
    );
  });

  it('runs as a process: exit code and stderr', async () => {
    // The built CLI, as `haven` runs it; point at the env file explicitly.
    const envFile = join(cwd, '.haven/local.env');
    const ok = await spawnNode('admin-cli/main.ts', ['sites', '--json', '--env', envFile]).done;
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).map((s: { id: string }) => s.id)).toContain('dc1');
    const failed = await spawnNode('admin-cli/main.ts', ['job', 'job-nope', '--env', envFile]).done;
    expect(failed).toMatchObject({
      code: 1,
      stderr: "haven: Not found: Job 'job-nope' does not exist.\n",
    });
  });

  it('parses durations', () => {
    expect([
      parseDuration('90'),
      parseDuration('5s'),
      parseDuration('30m'),
      parseDuration('1h'),
      parseDuration('7d'),
    ]).toEqual([90, 5, 1800, 3600, 604800]);
    expect(() => parseDuration('1.5h')).toThrow();
  });
});
