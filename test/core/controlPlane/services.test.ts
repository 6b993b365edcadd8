import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import { createControlPlane } from '../../../core/controlPlane/controlPlane';
import {
  formatCredential,
  parseCredential,
  secretMatches,
  sha256Hex,
} from '../../../core/controlPlane/credentials';
import { AesKeyWrapper, MissingKeyWrapper } from '../../../core/controlPlane/machineKeys';
import { checkHealth } from '../../../core/controlPlane/health';
import { collectionsDefs, type DataKeyDoc } from '../../../core/controlPlane/model';
import { HavenError, transient } from '../../../core/errors';

function plane(kek = randomBytes(32)) {
  const documents = new MemoryDocumentStore();
  const cp = createControlPlane({
    documents,
    clock: Date.now,
    keyWrapper: new AesKeyWrapper(kek),
    ingest: {
      issue: async () => {
        throw transient('no');
      },
    },
    probes: [],
  });
  return { cp, documents };
}

describe('credentials', () => {
  it('parses only well-formed credentials of the right kind', () => {
    const secret = randomBytes(32).toString('base64url');
    expect(parseCredential('hvm', formatCredential('hvm', 'm-1', secret))).toEqual({
      id: 'm-1',
      secret,
    });
    expect(parseCredential('hvt', formatCredential('hvm', 'm-1', secret))).toBeUndefined();
    expect(parseCredential('hvm', `hvm.m.1.${secret}`)).toBeUndefined();
    expect(parseCredential('hvm', `hvm.m-1.${secret}x`)).toBeUndefined();
    expect(parseCredential('hvm', undefined)).toBeUndefined();
    expect(secretMatches(secret, sha256Hex(secret))).toBe(true);
    expect(secretMatches(secret + 'x', sha256Hex(secret))).toBe(false);
    expect(secretMatches(secret, 'abcd')).toBe(false);
  });
});

describe('MachineKeys', () => {
  it('round-trips a data key; a tampered wrap or another KEK is an integrity error', async () => {
    const { cp, documents } = plane();
    const { keyId, key, doc } = await cp.machineKeys.prepare('m-1');
    await cp.machineKeys.store(doc);
    expect((await cp.machineKeys.getDataKey('m-1', keyId)).equals(key)).toBe(true);

    const keys = documents.collection<DataKeyDoc>(collectionsDefs.dataKeys);
    const stored = (await keys.get('m-1', keyId))!.doc;
    expect(Buffer.from(stored.wrapped, 'base64').includes(key)).toBe(false);
    // The wrap is bound to (machine, keyId): copying it to another machine does not open it.
    await keys.create({ ...stored, machineId: 'm-2' });
    await expect(cp.machineKeys.getDataKey('m-2', keyId)).rejects.toMatchObject({
      kind: 'integrity',
    });
    const bytes = Buffer.from(stored.wrapped, 'base64');
    bytes[20]! ^= 1;
    await keys.replace({ ...stored, wrapped: bytes.toString('base64') });
    await expect(cp.machineKeys.getDataKey('m-1', keyId)).rejects.toMatchObject({
      kind: 'integrity',
    });
  });

  it('without a KEK, key operations are transient (503), never silently unencrypted', async () => {
    await expect(new MissingKeyWrapper().wrap()).rejects.toMatchObject({ kind: 'transient' });
    expect(() => new AesKeyWrapper(randomBytes(16))).toThrow();
  });
});

describe('enrollment (memory store)', () => {
  it('exactly one of many concurrent enrollments with one token wins', async () => {
    const { cp } = plane();
    await cp.sites.create({ name: 'x' });
    const { token } = await cp.enrollment.issueToken('x', { ttlSeconds: 600 });
    const rs = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        cp.enrollment.enroll({ token, hostname: 'h', os: 'o', disks: [] }),
      ),
    );
    expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of rs)
      if (r.status === 'rejected') expect((r.reason as HavenError).kind).toBe('unauthenticated');
    expect((await cp.machines.list()).items).toHaveLength(1);
  });
});

describe('checkHealth', () => {
  it('reports each probe, hides foreign error text, times out slow probes', async () => {
    const report = await checkHealth(
      [
        { name: 'a', check: async () => {} },
        {
          name: 'b',
          check: async () => {
            throw new Error('https://acct?sig=SECRET');
          },
        },
        { name: 'c', check: () => new Promise(() => {}) },
      ],
      { timeoutMs: 50 },
    );
    expect(report.status).toBe('degraded');
    expect(report.dependencies.map((d) => [d.name, d.status])).toEqual([
      ['a', 'ok'],
      ['b', 'failed'],
      ['c', 'failed'],
    ]);
    expect(JSON.stringify(report)).not.toContain('SECRET');
    expect(report.dependencies[2]!.detail).toMatch(/timed out/);
  });
});

/** A control plane with one enrolled machine (one disk). */
async function withMachine() {
  const { cp } = plane();
  await cp.sites.create({ name: 's' });
  const { token } = await cp.enrollment.issueToken('s', { ttlSeconds: 600 });
  const { machineId } = await cp.enrollment.enroll({
    token,
    hostname: 'h',
    os: 'o',
    disks: [{ id: 'sda', sizeBytes: 512, logicalSectorSize: 512 }],
  });
  return { cp, machineId };
}

describe('protect and the job launcher', () => {
  it('starts the job once on create, retries a queued job on a repeated request, not a running one', async () => {
    const { cp, machineId } = await withMachine();
    const starts: { jobId: string; input: Record<string, unknown> }[] = [];
    let fail = true;
    const launcher = {
      start: async (job: { id: string }, input: Record<string, unknown>) => {
        starts.push({ jobId: job.id, input });
        if (fail) throw transient('durable down');
      },
    };
    await expect(cp.protection.protect(machineId, {}, launcher)).rejects.toMatchObject({
      kind: 'transient',
    });
    fail = false;
    const again = await cp.protection.protect(machineId, {}, launcher);
    expect(again.created).toBe(false);
    expect(starts.map((s) => s.jobId)).toEqual([again.job.id, again.job.id]);
    expect(starts[1]!.input).toEqual({ machineId, disks: ['sda'], policy: 'default' });
    await cp.jobs.update(again.job.id, { state: 'running' });
    await cp.protection.protect(machineId, {}, launcher);
    expect(starts).toHaveLength(2);
  });
});

describe('disable protection', () => {
  const canceller = (live: boolean) => {
    const raised: string[] = [];
    return { raised, cancel: async (job: { id: string }) => (raised.push(job.id), live) };
  };

  it('cancels a live enable saga and changes nothing itself; a repeat raises again', async () => {
    const { cp, machineId } = await withMachine();
    const { job } = await cp.protection.protect(machineId, {});
    await cp.jobs.update(job.id, { state: 'running' });
    await cp.protectedItems.transition(machineId, 'initial-sync');
    const before = await cp.protectedItems.get(machineId);
    const c = canceller(true);
    const r = await cp.protection.disable(machineId, c);
    expect(r).toMatchObject({ done: false, job: { id: job.id, state: 'running' } });
    expect(r.item.state).toBe('initial-sync');
    expect((await cp.protectedItems.get(machineId)).etag).toBe(before.etag);
    await cp.protection.disable(machineId, c);
    expect(c.raised).toEqual([job.id, job.id]);
    // Without a durable client a running saga cannot be cancelled: 503, nothing changed.
    await expect(cp.protection.disable(machineId)).rejects.toMatchObject({ kind: 'transient' });
    expect((await cp.protectedItems.get(machineId)).etag).toBe(before.etag);
  });

  it('an enable job that never started ends cancelled and the item disabled', async () => {
    const { cp, machineId } = await withMachine();
    const { job } = await cp.protection.protect(machineId, {});
    const c = canceller(false);
    const r = await cp.protection.disable(machineId, c);
    expect(c.raised).toEqual([job.id]);
    expect(r).toMatchObject({ done: true, item: { state: 'disabled', jobId: job.id } });
    expect(r.job).toMatchObject({ id: job.id, state: 'cancelled' });
    expect(await cp.protection.disable(machineId, c)).toEqual(r);
    expect(c.raised).toHaveLength(1);
    // Protecting again after a disable is a re-enable with a new job.
    const again = await cp.protection.protect(machineId, {});
    expect(again.created).toBe(true);
    expect(again.job.id).not.toBe(job.id);
  });

  it('an interrupted disable (item left disabling) is finished by the next request', async () => {
    const { cp, machineId } = await withMachine();
    await cp.protection.protect(machineId, {});
    await cp.protectedItems.transition(machineId, 'initial-sync');
    await cp.protectedItems.transition(machineId, 'protected');
    const own = await cp.jobs.create('disable-protection', { machineId });
    await cp.protectedItems.transition(machineId, 'disabling', { jobId: own.id });
    const r = await cp.protection.disable(machineId);
    expect(r).toMatchObject({ done: true, item: { state: 'disabled' } });
    expect(r.job).toMatchObject({ id: own.id, state: 'succeeded' });
  });

  it('concurrent disables of a protected item record one job', async () => {
    const { cp, machineId } = await withMachine();
    await cp.protection.protect(machineId, {});
    await cp.protectedItems.transition(machineId, 'initial-sync');
    await cp.protectedItems.transition(machineId, 'protected');
    const rs = await Promise.all([1, 2, 3].map(() => cp.protection.disable(machineId)));
    expect(new Set(rs.map((r) => r.job.id)).size).toBe(1);
    expect(rs.every((r) => r.done && r.item.state === 'disabled')).toBe(true);
    const jobs = (await cp.jobs.list()).items.filter((j) => j.doc.type === 'disable-protection');
    expect(jobs).toHaveLength(1);
  });
});
