import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sealReverseBatch } from '../../core/failback/reverseBatch';
import type { ControlPlaneClient } from '../../edge-agent/controlPlaneClient';
import { diskDigest } from '../../edge-agent/diskDigests';
import { receiveFailback } from '../../edge-agent/failbackReceive';
import { IndexFile } from '../../edge-agent/indexFile';
import { TRACK_BLOCK } from '../../edge-agent/shadowIndex';
import { installSeedIndex } from '../../edge-agent/seedIndex';
import { xxh64 } from '@node-rs/xxhash';

const KiB = 1024;
const SIZE = 1024 * KiB;
const key = randomBytes(32);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The site agent's receiver against a control plane double serving a final diff of three
 * reverse batches from `data:` URLs (real sealed envelopes, real digests): it resumes after a
 * crash past batch k without re-reporting, and a batch that is not the one listed never opens.
 */
describe('failback receiver', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function fixture(onReport?: () => void) {
    const dir = mkdtempSync(path.join(tmpdir(), 'fb-recv-'));
    dirs.push(dir);
    const site = randomBytes(SIZE);
    const target = path.join(dir, 'site.img');
    writeFileSync(target, site);
    const azure = Buffer.from(site);
    const extents = [0, 1, 2].map((i) => ({ offset: i * 256 * KiB, data: randomBytes(64 * KiB) }));
    for (const e of extents) e.data.copy(azure, e.offset);
    const envelopes = extents.map((e, i) =>
      sealReverseBatch(
        { machineId: 'm-1', diskId: 'sda', session: 1, seq: i + 1, keyId: 'k1', diskSize: SIZE },
        [e],
        key,
      ),
    );
    const azurePath = path.join(dir, 'azure.img');
    writeFileSync(azurePath, azure);
    const expectedDigest = await diskDigest(azurePath, SIZE);
    const reports: { seq: number; digest: string }[] = [];
    let served = envelopes;
    const plan = () => ({
      disks: [
        {
          diskId: 'sda',
          session: 1,
          pointId: 'p1',
          pointDigest: 'unused: the cursor proves the disk',
          sizeBytes: SIZE,
          batches: served.map((env, i) => ({
            seq: i + 1,
            url: `data:application/octet-stream;base64,${env.toString('base64')}`,
            sha256: sha(envelopes[i]!),
            bytes: env.length,
          })),
          expectedDigest,
          final: true,
        },
      ],
    });
    const api = {
      request: async (method: string, p: string, body?: { seq: number; digest: string }) => {
        if (method === 'GET' && p === 'machines/m-1/agent/failback')
          return { status: 200, body: plan() };
        if (method === 'POST' && p === 'machines/m-1/agent/failback/applied') {
          reports.push(body!);
          onReport?.();
          return {
            status: 200,
            body: { accepted: body!.digest === expectedDigest && body!.seq === 3 },
          };
        }
        throw new Error(`unexpected ${method} ${p}`);
      },
    } as unknown as ControlPlaneClient;
    // The site disk was proven equal to the failover point before (the cursor says so).
    const stateDir = path.join(dir, 'agent');
    mkdirSync(path.join(stateDir, 'failback'), { recursive: true });
    writeFileSync(
      path.join(stateDir, 'failback', 'sda.json'),
      JSON.stringify({ session: 1, proved: true, seq: 0 }),
    );
    const receive = (onApplied?: (seq: number) => void) =>
      receiveFailback({
        api,
        machineId: 'm-1',
        diskId: 'sda',
        target,
        stateDir,
        keyOf: (keyId) => (keyId === 'k1' ? key : undefined),
        progress: { start() {}, update() {}, stop() {} },
        ...(onApplied ? { onApplied } : {}),
      });
    const corrupt = (i: number) => {
      served = envelopes.map((e, j) =>
        j === i ? Buffer.concat([e.subarray(0, -1), Buffer.from([e.at(-1)! ^ 1])]) : e,
      );
    };
    const heal = () => (served = envelopes);
    return { target, azure, reports, receive, corrupt, heal, stateDir };
  }

  it('an agent stopped after batch 2 resumes at batch 3 and only then reports; the disk equals the Azure disk', async () => {
    const f = await fixture();
    await expect(
      f.receive((seq) => {
        if (seq === 2) throw new Error('agent killed');
      }),
    ).rejects.toThrow('agent killed');
    expect(f.reports).toEqual([]); // nothing half-applied is reported
    const cursor = JSON.parse(readFileSync(path.join(f.stateDir, 'failback', 'sda.json'), 'utf8'));
    expect(cursor.seq).toBe(2);
    const applied: number[] = [];
    const r = await f.receive((seq) => applied.push(seq));
    expect(applied).toEqual([3]);
    expect(r).toMatchObject({ done: true, lastSeq: 3, batchesApplied: 1 });
    expect(f.reports).toHaveLength(1);
    expect(sha(readFileSync(f.target))).toBe(sha(f.azure));
  });

  it('a batch that is not the one listed is refused: the cursor stays before it, nothing is reported; once it is right the receive completes', async () => {
    const f = await fixture();
    f.corrupt(1);
    await expect(f.receive()).rejects.toThrow(/not the batch the control plane listed/);
    const cursor = JSON.parse(readFileSync(path.join(f.stateDir, 'failback', 'sda.json'), 'utf8'));
    expect(cursor.seq).toBe(1);
    expect(f.reports).toEqual([]);
    f.heal();
    const r = await f.receive();
    expect(r).toMatchObject({ done: true, lastSeq: 3 });
    expect(sha(readFileSync(f.target))).toBe(sha(f.azure));
  });

  it('the seed index describes exactly the bytes whose digest was accepted, even if the site writes right after', async () => {
    // A write lands on the site disk while the digest is being reported: it is after the
    // digest, so re-enable must send it; the seed index must not already contain it.
    const at = 512 * KiB;
    const late = randomBytes(4 * KiB);
    const f = await fixture(() => {
      const fd = openSync(path.join(f.stateDir, '..', 'site.img'), 'r+');
      writeSync(fd, late, 0, late.length, at);
      closeSync(fd);
    });
    expect(await f.receive()).toMatchObject({ done: true });
    const idx = path.join(f.stateDir, 'sda.g2.idx');
    const digest = f.reports[0]!.digest;
    const disk = { id: 'sda', path: f.target, sizeBytes: SIZE };
    expect(await installSeedIndex(f.stateDir, idx, 2, disk, digest)).toBe(true);
    const index = await IndexFile.open(
      idx,
      { trackBlock: TRACK_BLOCK, sizeBytes: SIZE, generation: 2 },
      SIZE / TRACK_BLOCK,
    );
    const entries = new BigUint64Array(SIZE / TRACK_BLOCK);
    index.read(0, entries);
    index.close();
    const hashes = (img: Buffer) =>
      Array.from({ length: SIZE / TRACK_BLOCK }, (_, i) =>
        xxh64(img.subarray(i * TRACK_BLOCK, (i + 1) * TRACK_BLOCK)),
      );
    // Every block as accepted (the Azure disk): the late block reads as changed to the scan.
    expect([...entries]).toEqual(hashes(f.azure));
    expect(entries[at / TRACK_BLOCK]).not.toBe(xxh64(late));
    // A seed for another digest, or another device, is never installed.
    expect(await installSeedIndex(f.stateDir, idx, 2, disk, 'f'.repeat(64))).toBe(false);
    expect(
      await installSeedIndex(f.stateDir, idx, 2, { ...disk, path: `${f.target}.other` }, digest),
    ).toBe(false);
  });
});
