import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { treeDigest } from '../core/disk/digest';
import { HavenError, integrity } from '../core/errors';
import { MAX_REPAIR_RANGES } from '../core/failback/failbackRecord';
import { openReverseBatch } from '../core/failback/reverseBatch';
import type { ControlPlaneClient } from './controlPlaneClient';
import { blockDigestsOf, diskDigest } from './diskDigests';
import { fetchDifferingBlocks, fetchFailbackPlan, fetchReverseBatch } from './failbackPlan';
import { readJson, sleep, writeFileAtomic } from './fsUtil';
import type { Progress } from './progress';
import { restoreDisk } from './restore';
import { SeedIndexWriter } from './seedIndex';

/** Where a disk's failback stands on the site (written after every applied batch). */
export interface FailbackCursor {
  session: number;
  /** The site disk was proven equal to the failover point (or restored to it). */
  proved: boolean;
  /** The last reverse batch applied and synced. */
  seq: number;
}

export interface ReceiveResult {
  diskId: string;
  session: number;
  target: string;
  /** Site blocks that differed from the failover point and were restored first. */
  provedBytesWritten: number;
  batchesApplied: number;
  /** Envelope bytes fetched (what travelled to the site). */
  bytesFetched: number;
  dataBytesApplied: number;
  lastSeq: number;
  digest: string;
  /** The control plane accepted the digest as the Azure disk's at failback. */
  done: boolean;
  /** Repair rounds asked for: blocks still different after the final diff, shipped again. */
  repairs: number;
  /** Bytes of the blocks named in those repairs, and the envelope bytes fetched for them. */
  repairedBytes: number;
  repairBytesFetched: number;
}

export const cursorFile = (stateDir: string, diskId: string): string =>
  path.join(stateDir, 'failback', `${diskId}.json`);

export interface ReceiveOptions {
  api: ControlPlaneClient;
  machineId: string;
  diskId: string;
  target: string;
  stateDir: string;
  /** The agent's data key named `keyId` (current or earlier; edge-agent/agentState.ts dataKeyOf). */
  keyOf: (keyId: string) => Buffer | undefined;
  progress: Progress;
  /** Keep going until the final diff is applied (else: apply what is listed now and stop). */
  wait?: boolean;
  pollMs?: number;
  fetchImpl?: typeof fetch;
  /** Tests: called after each batch is applied and its cursor written. */
  onApplied?: (seq: number) => void;
}

/**
 * Receives a failback onto the site disk: proves the disk equals the failover point (a disk
 * that does not is restored to it first, moving only the blocks that differ), then applies
 * the reverse batches strictly in seq order, each synced before the cursor moves past it. A
 * crash re-applies at most the batch in flight (absolute writes: idempotent). Once the final
 * diff is applied the disk's digest is reported; done only when the control plane finds it
 * equal to the Azure disk's.
 */
export async function receiveFailback(o: ReceiveOptions): Promise<ReceiveResult> {
  const f = o.fetchImpl ?? fetch;
  const cfile = cursorFile(o.stateDir, o.diskId);
  await fsp.mkdir(path.dirname(cfile), { recursive: true, mode: 0o700 });
  const r: ReceiveResult = {
    diskId: o.diskId,
    session: 0,
    target: o.target,
    provedBytesWritten: 0,
    batchesApplied: 0,
    bytesFetched: 0,
    dataBytesApplied: 0,
    lastSeq: 0,
    digest: '',
    done: false,
    repairs: 0,
    repairedBytes: 0,
    repairBytesFetched: 0,
  };
  /** After a repair request: the last seq listed then (new batches must follow it). */
  let repairAfter: number | undefined;
  for (;;) {
    const plan = await fetchFailbackPlan(o.api, o.machineId, o.diskId);
    const listed = plan.batches[plan.batches.length - 1]?.seq ?? 0;
    if (repairAfter !== undefined && listed <= repairAfter) {
      await sleep(o.pollMs ?? 2000);
      continue;
    }
    r.session = plan.session;
    let cur = await readJson<FailbackCursor>(cfile);
    if (!cur || cur.session !== plan.session)
      cur = { session: plan.session, proved: false, seq: 0 };
    if (!cur.proved) {
      const have = await diskDigest(o.target, plan.sizeBytes).catch(() => '');
      if (have !== plan.pointDigest) {
        const restored = await restoreDisk(
          o.api,
          o.machineId,
          plan.pointId,
          o.diskId,
          o.target,
          o.progress,
        );
        r.provedBytesWritten = restored.bytesWritten;
      }
      cur = { ...cur, proved: true };
      await writeFileAtomic(cfile, JSON.stringify(cur));
    }
    const fh = await fsp.open(o.target, 'r+');
    try {
      for (const b of plan.batches) {
        if (b.seq <= cur.seq) continue;
        if (b.seq !== cur.seq + 1)
          throw integrity(`Reverse batch #${cur.seq + 1} of ${o.diskId} is missing from the plan.`);
        const env = await fetchReverseBatch(f, b);
        r.bytesFetched += env.length;
        if (repairAfter !== undefined) r.repairBytesFetched += env.length;
        const opened = await openReverseBatch(
          env,
          { machineId: o.machineId, diskId: o.diskId, session: plan.session, seq: b.seq },
          (_m, keyId) => {
            const key = o.keyOf(keyId);
            if (!key)
              throw new HavenError(
                'forbidden',
                `Reverse batch sealed under key '${keyId}', which this agent does not hold.`,
              );
            return key;
          },
        );
        for (const e of opened.extents) {
          const data = e.kind === 'data' ? e.data : Buffer.alloc(e.length);
          await fh.write(data, 0, data.length, e.offset);
          r.dataBytesApplied += data.length;
        }
        await fh.datasync();
        cur = { ...cur, seq: b.seq };
        await writeFileAtomic(cfile, JSON.stringify(cur));
        r.batchesApplied++;
        o.onApplied?.(b.seq);
      }
    } finally {
      await fh.close();
    }
    r.lastSeq = cur.seq;
    if (plan.final) {
      // One read of the disk gives its digest and the scan index re-enable starts from.
      const seed = await SeedIndexWriter.open(o.stateDir, o.diskId, plan.sizeBytes);
      let mine: Buffer[];
      try {
        mine = await blockDigestsOf(o.target, plan.sizeBytes, (off, c) => seed.add(off, c));
        r.digest = treeDigest(mine, plan.sizeBytes);
        const rep = await o.api.request<{ accepted: boolean }>(
          'POST',
          `machines/${o.machineId}/agent/failback/applied`,
          { diskId: o.diskId, session: plan.session, seq: cur.seq, digest: r.digest },
        );
        r.done = rep.body.accepted;
      } catch (e) {
        await seed.discard();
        throw e;
      }
      if (r.done) {
        // Re-enable then sends only what the site writes from now on (edge-agent/seedIndex.ts).
        await seed.commit({
          diskId: o.diskId,
          sizeBytes: plan.sizeBytes,
          path: o.target,
          digest: r.digest,
        });
        return r;
      }
      await seed.discard();
      // Not the Azure disk: find the blocks that differ and have them shipped again.
      const ranges = plan.digestsUrl ? await fetchDifferingBlocks(f, plan, mine) : [];
      if (ranges.length > MAX_REPAIR_RANGES)
        throw integrity(
          `The site disk ${o.diskId} differs from the Azure disk in ${ranges.length} places: restore it from the failover point and fail back again.`,
        );
      if (ranges.length === 0)
        throw integrity(
          `The site disk ${o.diskId} (digest ${r.digest.slice(0, 12)}…) does not equal the Azure disk at failback.`,
        );
      await o.api.request('POST', `machines/${o.machineId}/agent/failback/repair`, {
        diskId: o.diskId,
        session: plan.session,
        ranges,
      });
      r.repairs++;
      r.repairedBytes += ranges.reduce((n, x) => n + x.length, 0);
      repairAfter = listed;
    }
    if (!o.wait) return r;
    await sleep(o.pollMs ?? 2000);
  }
}
