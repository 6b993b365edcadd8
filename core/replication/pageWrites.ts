import type { DecodedExtent } from '../batch';
import { SUB_BLOCK, subDigest, zeroSubDigest } from '../disk/digest';
import { IntervalMap, toExtents } from '../disk/intervalMap';
import { mapLimit } from '../mapLimit';
import { MAX_PAGE_WRITE } from './blobPorts';
import { REPLICAS } from './names';
import type { ReplicationDeps, ReplicationOptions } from './ports';

/** Requests in flight for digest read-backs (rare: partly written sub-blocks). */
const SMALL_OPS_IN_FLIGHT = 16;
/** Payload bytes in flight that large page writes are sized against. */
const WRITE_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/**
 * Several batches of a disk as one: later batches win where they overlap (last writer wins, as
 * applying them one by one would leave it), adjacent extents are joined up to one page write
 * (4 MiB). Scattered small writes are what a page blob absorbs slowest (~500 requests/s), and a
 * hydrator that is behind has many batches waiting: merging is how it catches up.
 */
export function mergeBatches(
  batches: readonly { extents: readonly DecodedExtent[] }[],
): DecodedExtent[] {
  const map = new IntervalMap();
  for (const b of batches) {
    for (const e of b.extents) {
      if (e.kind === 'data') {
        const data = e.data;
        map.set(e.offset, e.offset + e.length, {
          kind: 'data',
          read: (from, length) => data.subarray(from, from + length),
          base: 0,
        });
      } else map.set(e.offset, e.offset + e.length, { kind: 'zero' });
    }
  }
  return toExtents(map, MAX_PAGE_WRITE).map((e) =>
    e.kind === 'data' ? { ...e, length: e.data.length } : e,
  );
}

/** Requests a drain made against the replica page blob (the budget a page blob has: ~500/s). */
export interface ReplicaRequests {
  pageWrites: number;
  clears: number;
  readBacks: number;
}

/**
 * Page writes (≤ 4 MiB each) and clears, several in flight. Same bytes at same offsets:
 * idempotent. Returns how many requests it made.
 */
export async function applyExtents(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  replica: string,
  leaseId: string,
  extents: readonly DecodedExtent[],
  count?: ReplicaRequests,
): Promise<void> {
  const jobs: { bytes: number; run: () => Promise<void> }[] = [];
  for (const e of extents) {
    if (e.kind === 'zero') {
      for (let off = 0; off < e.length; off += 256 * MAX_PAGE_WRITE) {
        const len = Math.min(256 * MAX_PAGE_WRITE, e.length - off);
        jobs.push({
          bytes: MAX_PAGE_WRITE, // a clear moves no payload; count it as one large request
          run: () => deps.blobs.clearPages(REPLICAS, replica, e.offset + off, len, leaseId),
        });
        if (count) count.clears++;
      }
    } else {
      // As large as a page write may be (4 MiB): requests are what a page blob and the bill
      // count; a merged group has many such writes to keep in flight (an initial sync at 1 MiB
      // pieces made four times the page writes for the same bytes).
      for (let off = 0; off < e.length; off += MAX_PAGE_WRITE) {
        const chunk = e.data.subarray(off, Math.min(e.length, off + MAX_PAGE_WRITE));
        jobs.push({
          bytes: chunk.length,
          run: () => deps.blobs.uploadPages(REPLICAS, replica, e.offset + off, chunk, leaseId),
        });
        if (count) count.pageWrites++;
      }
    }
  }
  // Small scattered writes are bound by the service's per-request latency, not bytes: keep more
  // of them in flight (up to smallWritesInFlight) while large ones stay at writeConcurrency.
  const bytes = jobs.reduce((n, j) => n + j.bytes, 0);
  const limit = Math.min(
    opts.smallWritesInFlight,
    Math.max(
      opts.writeConcurrency,
      Math.floor(WRITE_BYTES_IN_FLIGHT / Math.max(1, bytes / jobs.length)),
    ),
  );
  await mapLimit(jobs, limit, (j) => j.run());
}

/** Bytes hashed between two yields to the event loop (~3 ms of sha256 here). */
const HASH_SLICE = 2 * 1024 * 1024;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The digest of every 4 KiB sub-block the (merged, disjoint, sorted) extents wrote, from their
 * own bytes: no read of the replica. Only a sub-block a write covers partly (a client writing
 * 512-byte sectors) is read back, once `written` (the group's page writes) has settled, as one
 * range per run of such sub-blocks. It hashes while the page writes are in flight (they wait on
 * storage, this on the CPU) and yields every few MiB, so a 64 MiB group neither leaves the
 * writes' responses unread nor holds the event loop ingest shares for a tenth of a second.
 */
export async function writtenSubDigests(
  deps: ReplicationDeps,
  replica: string,
  diskSize: number,
  extents: readonly DecodedExtent[],
  count?: ReplicaRequests,
  written: Promise<unknown> = Promise.resolve(),
): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  type Seg = { at: number; data?: Buffer; len: number };
  const partial = new Map<number, Seg[]>();
  let hashed = 0;
  for (const e of extents) {
    const end = Math.min(e.offset + e.length, diskSize);
    for (let s = Math.floor(e.offset / SUB_BLOCK); s * SUB_BLOCK < end; s++) {
      const ss = s * SUB_BLOCK;
      const subLen = Math.min(SUB_BLOCK, diskSize - ss);
      const from = Math.max(ss, e.offset);
      const to = Math.min(ss + subLen, end);
      const data = e.kind === 'data' ? e.data.subarray(from - e.offset, to - e.offset) : undefined;
      if (from === ss && to === ss + subLen && !partial.has(s)) {
        out.set(s, data ? subDigest(data) : zeroSubDigest(diskSize, s));
        if (data && (hashed += subLen) >= HASH_SLICE) {
          hashed = 0;
          await yieldToLoop();
        }
        continue;
      }
      let segs = partial.get(s);
      if (!segs) partial.set(s, (segs = []));
      segs.push({ at: from - ss, len: to - from, ...(data ? { data } : {}) });
    }
  }
  const readBack: number[] = [];
  for (const [s, segs] of partial) {
    const subLen = Math.min(SUB_BLOCK, diskSize - s * SUB_BLOCK);
    if (segs.reduce((n, x) => n + x.len, 0) < subLen) {
      readBack.push(s);
      continue;
    }
    const buf = Buffer.alloc(subLen);
    for (const x of segs) x.data?.copy(buf, x.at);
    out.set(s, subDigest(buf));
  }
  readBack.sort((a, z) => a - z);
  await written;
  const runs: [number, number][] = [];
  for (const s of readBack) {
    const last = runs[runs.length - 1];
    if (last && last[1] === s - 1 && s - last[0] < 1024) last[1] = s;
    else runs.push([s, s]);
  }
  await mapLimit(runs, SMALL_OPS_IN_FLIGHT, async ([first, last]) => {
    const start = first * SUB_BLOCK;
    const end = Math.min((last + 1) * SUB_BLOCK, diskSize);
    const buf = await deps.blobs.readRange(REPLICAS, replica, start, end - start);
    if (count) count.readBacks++;
    for (let s = first; s <= last; s++) {
      const at = (s - first) * SUB_BLOCK;
      out.set(s, subDigest(buf.subarray(at, Math.min(at + SUB_BLOCK, buf.length))));
    }
  });
  return out;
}
