import { describe, expect, it } from 'vitest';
import { envelopeDigest, incomingContainerOf } from '../../../core/batch';
import type { BlobEvents, BlobStore } from '../../../core/replication/blobPorts';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent, type IngestEvent } from '../../../core/replication/ingest';
import { BATCHES, STAGING, stagingBlobName } from '../../../core/replication/names';
import type { ReplicationDeps } from '../../../core/replication/ports';
import { readStaged } from '../../../core/replication/stagedBatch';
import type { ReplicationCollections } from '../../../core/replication/state';
import {
  data,
  harness,
  refEvent,
  replicaBytes,
  uploadClaim,
  watermark,
  zero,
  type Harness,
  type TestDisk,
} from './support';

/**
 * Ingest killed at every mutating call it makes, then the event redelivered (Event Hubs is
 * at-least-once: the checkpoint did not advance) and the disk hydrated: the replica must hold
 * the batch applied exactly once, nothing may be left behind, and no staged pointer may ever
 * name a copy that is not there.
 */

const MiB = 1024 * 1024;

/** What the injector throws: the ingest process died here. */
class Crash extends Error {}

const BLOB_WRITES = new Set<string>([
  'ensureContainer',
  'createPageBlob',
  'uploadPages',
  'clearPages',
  'createSnapshot',
  'deleteSnapshot',
  'acquireLease',
  'renewLease',
  'releaseLease',
  'breakLease',
  'putBlockBlobIfAbsent',
  'putBlockBlob',
  'copyBlockBlobIfAbsent',
  'setMetadata',
  'deleteBlob',
]);
const DOC_WRITES = new Set<string>(['create', 'replace', 'upsert', 'delete']);

/**
 * Kills the invocation at the `crashAt`-th mutating call: 'before' it reaches the store, or
 * 'after' the store did it (the reply is lost). From then on every call, read or write, fails.
 */
class FaultInjector {
  /** The mutating calls that went out (or were about to), in order: `port.method container`. */
  readonly writes: string[] = [];
  crashed = false;

  constructor(
    private readonly crashAt = 0,
    private readonly mode: 'before' | 'after' = 'before',
  ) {}

  deps(base: ReplicationDeps): ReplicationDeps {
    const docs = Object.fromEntries(
      Object.entries(base.docs).map(([k, c]) => [
        k,
        this.wrap(c as object, `docs.${k}`, DOC_WRITES),
      ]),
    ) as unknown as ReplicationCollections;
    return {
      ...base,
      blobs: this.wrap<BlobStore>(base.blobs, 'blobs', BLOB_WRITES),
      events: this.wrap<BlobEvents>(base.events, 'events', new Set(['written'])),
      docs,
    };
  }

  private wrap<T extends object>(target: T, port: string, writes: Set<string>): T {
    return new Proxy(target, {
      get: (t, p) => {
        const v: unknown = Reflect.get(t, p, t);
        if (typeof v !== 'function' || typeof p !== 'string') return v;
        const fn = v as (...a: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          if (this.crashed) throw new Crash(`dead: ${port}.${p} after the crash`);
          if (!writes.has(p)) return fn.apply(t, args);
          const n = this.writes.push(
            `${port}.${p} ${String(args.find((a) => typeof a === 'string'))}`,
          );
          if (n === this.crashAt && this.mode === 'before') this.die(n);
          const out = await fn.apply(t, args);
          if (n === this.crashAt && this.mode === 'after') this.die(n);
          return out;
        };
      },
    });
  }

  private die(n: number): never {
    this.crashed = true;
    throw new Crash(`crash ${this.mode} write ${n}: ${this.writes[n - 1]}`);
  }
}

type Kind = 'inline' | 'claimed';

interface Scenario {
  d: TestDisk;
  env: Buffer;
  event: IngestEvent;
  name: string;
  /** The claim-check upload (claimed events). */
  claim?: string;
}

/**
 * A machine whose seq 1 is applied (so seq 2 lands on an existing replica and watermark), and
 * the event carrying seq 2: inline, or through a claim check as large batches travel.
 */
async function scenario(h: Harness, kind: Kind): Promise<Scenario> {
  const d = h.addMachine({ d0: 4 * MiB }).disks[0]!;
  const machineId = d.machine.machineId;
  const first = await ingestEvent(h.deps, h.opts, {
    body: d.batch([data(0, 256 * 1024)]),
    partitionKey: machineId,
  });
  expect(first.status).toBe('staged');
  await hydrateStaged(h.deps, h.opts, stagingBlobName(machineId, d.diskId, 1, 1));
  const name = stagingBlobName(machineId, d.diskId, 1, 2);
  if (kind === 'inline') {
    const env = d.batch([data(4096, 8192), zero(64 * 1024, 64 * 1024)]);
    return { d, env, name, event: { body: env, partitionKey: machineId } };
  }
  const env = d.batch([data(128 * 1024, 1 * MiB + 4096), zero(0, 8192)]);
  const { claim, ref } = await uploadClaim(h, env);
  return { d, env, name, claim, event: refEvent(ref) };
}

/** Every staged pointer of the machine names a copy that exists (readStaged does not refuse it). */
async function expectNoOrphanPointer(h: Harness, s: Scenario, when: string) {
  for (const item of await h.blobs.list(STAGING, `${s.d.machine.machineId}/`)) {
    const staged = await readStaged(h.deps, item.name);
    expect(staged?.refused?.message, `${when}: ${item.name}`).toBeUndefined();
  }
}

/** The writes one clean ingest of the event makes (on a scenario of its own). */
async function cleanWrites(h: Harness, kind: Kind): Promise<string[]> {
  const s = await scenario(h, kind);
  const probe = new FaultInjector();
  expect((await ingestEvent(probe.deps(h.deps), h.opts, s.event)).status).toBe('staged');
  return probe.writes;
}

/**
 * Crashes ingest of a fresh scenario's event at write `n`, optionally lets the blob trigger
 * hydrate what got staged, redelivers the event without faults, hydrates, and checks the end
 * state; then a second redelivery must be a duplicate that changes nothing.
 */
async function crashAndRecover(
  h: Harness,
  kind: Kind,
  n: number,
  mode: 'before' | 'after',
  hydrateBetween: boolean,
): Promise<Scenario> {
  const s = await scenario(h, kind);
  const at = `${kind}, crash ${mode} write ${n}${hydrateBetween ? ', hydrated before redelivery' : ''}`;
  const faults = new FaultInjector(n, mode);
  await expect(ingestEvent(faults.deps(h.deps), h.opts, s.event), at).rejects.toBeInstanceOf(Crash);
  expect(faults.crashed, at).toBe(true);
  await expectNoOrphanPointer(h, s, `${at}, after the crash`);

  if (hydrateBetween) await hydrateStaged(h.deps, h.opts, s.name);
  await expectNoOrphanPointer(h, s, `${at}, after the first hydrate`);
  const taken =
    (await h.blobs.getProperties(STAGING, s.name)) !== undefined ||
    (await watermark(h, s.d))!.appliedSeq >= 2;

  const again = await ingestEvent(h.deps, h.opts, s.event);
  expect(again, at).toEqual({ status: taken ? 'duplicate' : 'staged', stagingName: s.name });
  await expectNoOrphanPointer(h, s, `${at}, after the redelivery`);
  if (await h.blobs.getProperties(STAGING, s.name)) {
    // Staged and not applied yet: the hydrate trigger was told (by a delivery that got that far).
    expect(h.events.events, at).toContainEqual({ container: STAGING, name: s.name });
  }

  const r = await hydrateStaged(h.deps, h.opts, s.name);
  expect(r, at).toMatchObject({ status: 'drained', appliedSeq: 2 });
  await expectApplied(h, s, at);

  expect(await ingestEvent(h.deps, h.opts, s.event), `${at}, late redelivery`).toEqual({
    status: 'duplicate',
    stagingName: s.name,
  });
  await expectApplied(h, s, `${at}, late redelivery`);
  return s;
}

/** Seq 2 applied exactly once, exact bytes, nothing left in staging, batches or incoming. */
async function expectApplied(h: Harness, s: Scenario, at: string) {
  const machineId = s.d.machine.machineId;
  expect((await replicaBytes(h, s.d)).equals(s.d.image), `${at}: replica bytes`).toBe(true);
  const w = await watermark(h, s.d);
  expect(w, at).toMatchObject({ appliedSeq: 2, batchesApplied: 2 });
  expect(
    w!.recent.filter((x) => x.seq === 2),
    at,
  ).toEqual([{ seq: 2, sha256: envelopeDigest(s.env) }]);
  expect(await h.blobs.list(STAGING, `${machineId}/`), `${at}: staging`).toEqual([]);
  expect(await h.blobs.list(BATCHES, `${machineId}/`), `${at}: batches`).toEqual([]);
  if (s.claim) {
    expect(
      await h.blobs.getProperties(incomingContainerOf(machineId), s.claim),
      `${at}: claim upload`,
    ).toBeUndefined();
  }
}

describe('ingest survives a crash at every write', () => {
  for (const kind of ['inline', 'claimed'] as const) {
    for (const hydrateBetween of [false, true]) {
      const then = hydrateBetween
        ? 'the blob trigger hydrates what got staged, then redelivery'
        : 'redelivery, then hydrate';
      it(`${kind} event: crash before and after each write, ${then}`, async () => {
        const h = await harness('memory');
        const writes = await cleanWrites(h, kind);
        // The crash points are the clean run's writes. A claim check is staged as a pointer to
        // the upload itself: the pointer put is one of them, a copy is not.
        const pointer = writes.findIndex((w) => w === `blobs.putBlockBlobIfAbsent ${STAGING}`);
        expect(pointer, writes.join(', ')).toBeGreaterThanOrEqual(0);
        expect(writes.some((w) => w.startsWith('blobs.copyBlockBlobIfAbsent'))).toBe(false);
        expect(writes.some((w) => w.startsWith('blobs.deleteBlob'))).toBe(false);
        for (let n = 1; n <= writes.length; n++) {
          for (const mode of ['before', 'after'] as const)
            await crashAndRecover(h, kind, n, mode, hydrateBetween);
        }
      });
    }
  }
});
