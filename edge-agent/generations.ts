import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { HavenError } from '../core/errors';
import type { AgentState } from './agentState';
import type { AgentDisk } from './changeSource';
import { ControlPlaneClient, type CloudDisk } from './controlPlaneClient';
import { IndexFile } from './indexFile';
import { TRACK_BLOCK } from './shadowIndex';
import { installSeedIndex } from './seedIndex';
import { Spool } from './spool';
import { agentSpoolOptions } from './spoolTypes';

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/**
 * The scan source's index of a disk generation (its file-name convention,
 * edge-agent/scanSource.ts): `${disk.id}.g${generation}.idx` under the state's index dir.
 */
export const indexFileOf = (indexDir: string, diskId: string, generation: number) =>
  path.join(indexDir, `${diskId}.g${generation}.idx`);

const exists = (file: string) =>
  fsp.access(file).then(
    () => true,
    () => false,
  );

/** Generations of a disk that still have an index file (older ones are left over by a switch). */
async function indexedGenerations(indexDir: string, diskId: string): Promise<number[]> {
  const files = await fsp.readdir(indexDir).catch(() => [] as string[]);
  const prefix = `${diskId}.g`;
  return files
    .filter((f) => f.startsWith(prefix) && f.endsWith('.idx'))
    .map((f) => Number(f.slice(prefix.length, -'.idx'.length)))
    .filter((g) => Number.isInteger(g) && g > 0);
}

export interface GenerationChange {
  diskId: string;
  from: number;
  to: number;
  /** Unsent batches of older generations given up. */
  dropped: number;
  /** The agent asked for this resync itself (lost tracking state). */
  requested: boolean;
}

/**
 * Before the agent opens its change source (state dir locked, no agent running): follow the
 * control plane's generation of every disk (a resync, or a resize, started a new one).
 *
 *  - Lost tracking state: the index of the current generation is missing although that
 *    generation was checkpointed here before (or the whole spool is gone while the cloud holds
 *    data of it). Treating the disk as a fresh zero replica would miss blocks that became zero,
 *    so the agent asks for a resync and replicates a new generation into a fresh replica.
 *  - Switching: unsent batches of older generations are dropped from the spool (ingest refuses
 *    them once the new generation is live), the old index goes, and the new generation starts
 *    with a fresh index (the scan source's all-zero index for a generation it never spooled) and
 *    seq 1.
 *
 * Offline (control plane unreachable), the agent keeps its generation: the scan source's own
 * fallback (compare everything again when its index is missing) keeps that safe.
 */
export async function followGenerations(
  state: AgentState,
  api: ControlPlaneClient,
  log: Log,
  maxSpoolBytes: number,
  opts: { scanIndex?: boolean } = {},
): Promise<GenerationChange[]> {
  // The journal source (serve-disk) keeps no scan index: a missing one is not lost state there.
  const scanIndex = opts.scanIndex ?? true;
  const identity = await state.identity();
  const disks = await state.disks();
  if (disks.length === 0 || (await state.runningPid())) return [];
  let cloud: CloudDisk[];
  try {
    cloud = await api.listDisks(identity.machineId);
  } catch (e) {
    if (!(e instanceof HavenError)) throw e;
    // Unreachable, or a control plane without the listing: keep the generations we have.
    log('disk generations not checked', { error: e.message });
    return [];
  }
  await state.lock();
  let spool: Spool | undefined;
  const openSpool = async () =>
    (spool ??= await Spool.open(state.spoolDir, agentSpoolOptions(maxSpoolBytes)));
  const changes: GenerationChange[] = [];
  try {
    for (const d of disks) {
      const c = cloud.find((x) => x.id === d.id);
      if (!c) continue;
      let target = c.generation ?? 1;
      let requested = false;
      if (
        scanIndex &&
        target === d.generation &&
        !(await exists(indexFileOf(state.indexDir, d.id, target)))
      ) {
        const s = await openSpool();
        const k = { diskId: d.id, generation: target };
        const lost = s.checkpointSeq(k) > 0 || (s.nextSeq(k) === 1 && (c.appliedSeq ?? 0) > 0);
        if (lost) {
          try {
            const r = await api.requestResync(
              identity.machineId,
              d.id,
              `haven-agent lost the change index of generation ${target}`,
            );
            target = r.generation ?? target;
            requested = true;
          } catch (e) {
            if (!(e instanceof HavenError)) throw e;
            // Not protected (409) or offline: the scan source compares every block again.
            log('resync request refused; re-reading the whole disk instead', {
              diskId: d.id,
              error: e.message,
            });
          }
        }
      }
      const older = (await indexedGenerations(state.indexDir, d.id)).filter((g) => g < target);
      if (target === d.generation && older.length === 0) continue;
      const s = await openSpool();
      let dropped = 0;
      for (const g of s.generations(d.id))
        if (g < target) dropped += await s.abandon({ diskId: d.id, generation: g });
      for (const g of older) await fsp.rm(indexFileOf(state.indexDir, d.id, g), { force: true });
      if (target !== d.generation) {
        const seeded = c.seed?.generation === target ? c.seed.digest : undefined;
        if (seeded && scanIndex) await seedGeneration(state, d, target, seeded, log);
        changes.push({ diskId: d.id, from: d.generation, to: target, dropped, requested });
        log('disk switches generation', {
          diskId: d.id,
          from: d.generation,
          to: target,
          droppedBatches: dropped,
          ...(requested ? { reason: 'tracking state lost' } : {}),
        });
        d.generation = target;
      }
    }
    if (changes.length) await state.saveDisks(disks);
  } finally {
    await spool?.close();
  }
  return changes;
}

/**
 * A generation re-enable seeded in the cloud with the disk as it was at failback: its replica
 * is not a zero page blob, so the fresh all-zero index would hide blocks that became zero.
 * The seed index of that moment (written by the failback receiver) makes only what changed
 * since travel; without it every block is compared and sent again (correct, just slower).
 */
async function seedGeneration(
  state: AgentState,
  d: AgentDisk,
  generation: number,
  digest: string,
  log: Log,
): Promise<void> {
  const file = indexFileOf(state.indexDir, d.id, generation);
  await fsp.mkdir(state.indexDir, { recursive: true, mode: 0o700 });
  const installed = await installSeedIndex(state.dir, file, generation, d, digest);
  if (!installed) {
    const blocks = Math.ceil(d.sizeBytes / TRACK_BLOCK);
    const all = await IndexFile.open(
      file,
      { trackBlock: TRACK_BLOCK, sizeBytes: d.sizeBytes, generation },
      blocks,
    );
    await all.save(); // every entry unknown: every block is sent again
    all.close();
  }
  log('disk follows a seeded generation', {
    diskId: d.id,
    generation,
    index: installed ? 'seed of the failback' : 'none matches: every block is sent again',
  });
}

/**
 * How often a replicating agent lists its disks: whether one has a new generation, and how far
 * each is stored in Azure (what it sent is kept until then: resendWatch.ts).
 */
export const GENERATION_POLL_MS = Number(process.env.HAVEN_AGENT_GENERATION_POLL_MS ?? 5_000);

/** followGenerations with the enrolled agent's own control-plane client and spool limit. */
export async function followGenerationsOf(
  state: AgentState,
  log: Log,
  opts: { scanIndex?: boolean } = {},
): Promise<GenerationChange[]> {
  const id = await state.identity();
  const settings = await state.settings();
  return followGenerations(
    state,
    new ControlPlaneClient(id.api, id.credential),
    log,
    settings.spoolMaxBytes ?? 1024 ** 3,
    opts,
  );
}

/**
 * While `run` replicates: polls the control plane's disk listing, hands each to `onListing`,
 * and calls `onChange` once a disk has a newer generation than the agent replicates (the caller
 * restarts the agent, which then follows it). Returns the stop function.
 */
export function watchGenerations(
  api: ControlPlaneClient,
  machineId: string,
  disks: readonly AgentDisk[],
  intervalMs: number,
  onChange: (diskId: string, generation: number) => void,
  onListing?: (cloud: CloudDisk[]) => Promise<void>,
): () => void {
  let busy = false;
  let fired = false;
  const timer = setInterval(() => {
    if (busy || fired) return;
    busy = true;
    void api
      .listDisks(machineId)
      .then(async (cloud) => {
        for (const c of cloud) {
          const d = disks.find((x) => x.id === c.id);
          if (d && (c.generation ?? 1) > d.generation && !fired) {
            fired = true;
            onChange(d.id, c.generation ?? 1);
          }
        }
        if (!fired) await onListing?.(cloud);
      })
      .catch(() => undefined) // offline: keep replicating what we have
      .finally(() => (busy = false));
  }, intervalMs);
  return () => clearInterval(timer);
}
