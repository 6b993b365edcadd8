import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { peekHeader, type Consistency } from '../core/batch';
import { HavenError } from '../core/errors';
import { AgentState, type AgentIdentity, type AgentSettings } from './agentState';
import { Batcher } from './batcher';
import type { AgentDisk, ChangeSource } from './changeSource';
import { ControlPlaneClient, type RecoveryPoint } from './controlPlaneClient';
import { readJson, sleep, writeFileAtomic } from './fsUtil';
import { GENERATION_POLL_MS, watchGenerations } from './generations';
import {
  GroupCuts,
  planCut,
  refineClock,
  stillBarrier,
  type CutPlan,
  type GroupCut,
  type PeerClock,
} from './groupCuts';
import { runHook } from './hooks';
import { FinalBookmark } from './finalBookmark';
import { ScanSource } from './scanSource';
import { type BatchSink, Sender } from './sender';
import { Spool } from './spool';

export const AGENT_VERSION = '0.1.0';
const DEFAULT_SPOOL_BYTES = 1024 ** 3;

export type Log = (msg: string, fields?: Record<string, unknown>) => void;

export interface AgentStatus {
  pid: number;
  updatedAt: string;
  machineId: string;
  running: boolean;
  disks: {
    id: string;
    path: string;
    state: 'initial-sync' | 'replicating' | 'idle';
    generation: number;
    spoolPendingBytes: number;
    lastSpooledSeq: number;
    lastAckedSeq: number;
    lastHydratedSeq?: number;
  }[];
  lastBookmark?: { id: string; cutAt: string; ackedAt?: string };
  /**
   * Seconds since the newest recovery point (status asks the control plane), else since the
   * newest bookmark Event Hubs acknowledged (agent-side estimate, rpoSource 'agent').
   */
  rpoSeconds?: number;
  rpoSource?: 'agent' | 'cloud';
  lastPoint?: { id: string; time?: string };
  spoolBytes: number;
  /** Batches not taken because the spool was full (their ranges were re-scanned). */
  droppedBatches: number;
  lastError?: string;
}

export interface BookmarkLogEntry {
  id: string;
  cutAt: string;
  /** `${diskId}/${generation}` -> seq of the bookmark's batch. */
  seqs: Record<string, number>;
}

export interface BookmarkRequestFile {
  id: string;
  consistency: Consistency;
}

export const newBookmarkId = (tag?: string): string => {
  const t = new Date().toISOString().replace(/[-:.]/g, '').replace('T', 't').replace('Z', 'z');
  const safeTag = tag ? `${tag.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-` : '';
  return `bm-${safeTag}${t}-${randomBytes(3).toString('hex')}`;
};

/**
 * The agent: change source → batcher → spool → sender, plus bookmarks, checkpoints, status.
 * One instance owns a state directory (pid lock) while it runs.
 */
export class Agent {
  private bookmarksCut = new Map<string, string>(); // id -> cutAt
  private lastBookmark?: {
    id: string;
    cutAt: string;
    ackedAt?: string;
    seqs: Record<string, number>;
  };
  private firstPassDone = false;
  /** Bookmarks asked for by `haven-agent bookmark`: a done file tells it when they are spooled. */
  private requested = new Set<string>();
  private crashPending = false;
  /** Consistency-group cuts: set by open(), each inserted at most once. */
  private groupCuts?: GroupCuts;

  private constructor(
    readonly state: AgentState,
    readonly identity: AgentIdentity,
    readonly settings: AgentSettings,
    readonly disks: AgentDisk[],
    readonly spool: Spool,
    readonly source: ChangeSource,
    readonly sender: Sender,
    readonly batcher: Batcher,
    readonly api: ControlPlaneClient,
    private readonly log: Log,
  ) {}

  static async open(
    stateDir: string,
    opts: {
      sink: (id: AgentIdentity, api: ControlPlaneClient) => BatchSink;
      log: Log;
      intervalMs?: number;
      /** Another ChangeSource (serve-disk: the write splitter's journal); default: scan. */
      source?: (disks: AgentDisk[]) => Promise<ChangeSource>;
    },
  ): Promise<Agent> {
    const state = new AgentState(stateDir);
    const identity = await state.identity();
    const settings = await state.settings();
    const disks = await state.disks();
    if (disks.length === 0)
      throw new HavenError(
        'precondition',
        "No disks are configured; run 'haven-agent disk add PATH' first.",
      );
    await state.lock();
    const spool = await Spool.open(state.spoolDir, {
      maxBytes: settings.spoolMaxBytes ?? DEFAULT_SPOOL_BYTES,
    });
    const source = opts.source
      ? await opts.source(disks)
      : await ScanSource.open(disks, state.indexDir, {
          intervalMs: opts.intervalMs ?? (settings.bookmarkIntervalSeconds ?? 5) * 1000,
          sentBefore: (d) => spool.nextSeq({ diskId: d.id, generation: d.generation }) > 1,
        });
    // Batches spooled after the source's last checkpoint may be missing from its index (a
    // crash between the two): have the source produce those ranges again.
    const redo = spool.afterCheckpoint();
    const spooledBookmarks: string[] = [];
    for (const e of redo) {
      const h = peekHeader(await spool.read(e));
      if (h.bookmark) spooledBookmarks.push(h.bookmark.id);
      for (const x of h.extents) source.invalidate(h.diskId, x.offset, x.length);
    }
    const lastSeqs = spool.lastSeqs();
    await source.checkpoint();
    await spool.setCheckpoint(lastSeqs);
    if (redo.length)
      opts.log('recovered spool', {
        batchesAfterCheckpoint: redo.length,
        pending: spool.pending().length,
      });
    const api = new ControlPlaneClient(identity.api, identity.credential);
    const sink = opts.sink(identity, api);
    const sender = new Sender(spool, sink, {
      onError: (e, attempt, wait) =>
        opts.log('send failed, retrying', {
          error: (e as Error).message,
          attempt,
          retryInMs: Math.round(wait),
        }),
    });
    const key = Buffer.from(identity.dataKey, 'base64');
    let self: Agent | undefined = undefined;
    const batcher = new Batcher(
      spool,
      source,
      new Map(disks.map((d) => [d.id, d])),
      { machineId: identity.machineId, keyId: identity.keyId, key },
      () => self?.checkpoint() ?? Promise.resolve(),
    );
    self = new Agent(
      state,
      identity,
      settings,
      disks,
      spool,
      source,
      sender,
      batcher,
      api,
      opts.log,
    );
    self.groupCuts = await GroupCuts.load(state, spooledBookmarks);
    return self;
  }

  /** Persists the source's tracking state and lets the spool drop what it covers. */
  async checkpoint(): Promise<void> {
    const covered = await this.batcher.coverage();
    await this.source.checkpoint();
    await this.spool.setCheckpoint(covered);
  }

  /**
   * Consumes the change stream until `until` says stop (or the signal aborts). Bookmark ids
   * that reach the spool are reported through `onBookmark`.
   */
  private async pump(signal: AbortSignal, onBookmark: (id: string) => boolean): Promise<void> {
    let sinceCheckpoint = Date.now();
    let failed: unknown;
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const rec of this.source.changes(ac.signal)) {
        if (rec.kind === 'extent' && !this.spool.hasRoom(rec.length * 2)) {
          // Back-pressure first; past the wait, the batcher hands the ranges back as dirty.
          const until = Date.now() + (this.settings.spoolFullWaitMs ?? 10_000);
          while (!this.spool.hasRoom(rec.length * 2) && Date.now() < until && !ac.signal.aborted) {
            await Promise.race([this.spool.changed(ac.signal), sleep(500, ac.signal)]);
          }
        }
        const r = await this.batcher.add(rec);
        if (rec.kind === 'idle') this.firstPassDone = true;
        if (r.bookmark) {
          const cutAt = rec.kind === 'bookmark' ? rec.createdAt : new Date().toISOString();
          this.lastBookmark = { id: r.bookmark, cutAt, seqs: this.spool.lastSeqs() };
          this.bookmarksCut.set(r.bookmark, cutAt);
          await this.recordBookmark({ id: r.bookmark, cutAt, seqs: this.spool.lastSeqs() });
          await this.groupCuts?.spooled(r.bookmark);
          if (this.requested.delete(r.bookmark)) {
            await writeFileAtomic(
              path.join(this.state.requestsDir, `${r.bookmark}.done`),
              JSON.stringify({ id: r.bookmark, cutAt, seqs: this.spool.lastSeqs() }),
            );
          }
          if (onBookmark(r.bookmark)) break;
        }
        if (rec.kind === 'idle' || Date.now() - sinceCheckpoint > 5_000) {
          await this.checkpoint();
          sinceCheckpoint = Date.now();
        }
      }
    } catch (e) {
      failed = e;
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
      // After a failure the spool may be unusable: do not mask the first error.
      if (!failed) {
        await this.batcher.flushAll();
        await this.checkpoint();
      }
    }
  }

  /** Cuts one bookmark (with app hooks if asked) and resolves once it is spooled. */
  async cut(consistency: Consistency, id: string, signal: AbortSignal): Promise<string> {
    const hooks = this.settings.hooks;
    if (consistency === 'app' && hooks?.preFreeze)
      await runHook('pre-freeze', hooks.preFreeze, hooks.timeoutSeconds);
    const decided = this.source.requestBookmark({ id, consistency });
    let thawed = false;
    const thaw = async () => {
      if (thawed) return;
      thawed = true;
      if (consistency === 'app' && hooks?.postThaw)
        await runHook('post-thaw', hooks.postThaw, hooks.timeoutSeconds);
    };
    void decided.then(thaw);
    try {
      await this.pump(signal, (got) => got === id);
    } finally {
      await thaw();
    }
    if (!this.bookmarksCut.has(id))
      throw new HavenError('transient', 'Stopped before the bookmark was cut.');
    return id;
  }

  /** `run --once`: replicate everything changed so far, cut a bookmark, wait for its recovery point. */
  async once(opts: {
    consistency?: Consistency;
    tag?: string;
    signal: AbortSignal;
    pointTimeoutMs?: number;
  }): Promise<RecoveryPoint> {
    const senderAc = new AbortController();
    const stopSender = () => senderAc.abort();
    opts.signal.addEventListener('abort', stopSender, { once: true });
    const sending = this.sender.run(senderAc.signal);
    const statusTimer = setInterval(() => void this.writeStatus(true).catch(() => undefined), 1000);
    try {
      const id = await this.cut(opts.consistency ?? 'crash', newBookmarkId(opts.tag), opts.signal);
      this.log('bookmark spooled', { bookmarkId: id });
      await this.sender.drained(opts.signal);
      if (opts.signal.aborted) throw new HavenError('transient', 'Interrupted.');
      if (this.lastBookmark?.id === id) this.lastBookmark.ackedAt = new Date().toISOString();
      this.log('bookmark sent', { bookmarkId: id });
      await this.writeStatus(true);
      return await this.waitForPoint(id, opts.signal, opts.pointTimeoutMs ?? 15 * 60_000);
    } finally {
      clearInterval(statusTimer);
      senderAc.abort();
      await sending;
      opts.signal.removeEventListener('abort', stopSender);
    }
  }

  async waitForPoint(id: string, signal: AbortSignal, timeoutMs: number): Promise<RecoveryPoint> {
    const until = Date.now() + timeoutMs;
    let wait = 250;
    while (!signal.aborted) {
      try {
        const p = await this.api.recoveryPoint(this.identity.machineId, id);
        if (p) return p;
      } catch (e) {
        if (!(e instanceof HavenError) || !e.retryable) throw e;
        this.log('waiting for the control plane', { error: e.message });
      }
      if (Date.now() > until)
        throw new HavenError(
          'transient',
          `Recovery point ${id} did not appear within ${Math.round(timeoutMs / 1000)} s.`,
        );
      await sleep(wait, signal);
      // A point normally lands within seconds of the last send; polling slowly there adds
      // straight to the RPO the user sees. Back off only once it is clearly late.
      wait = Date.now() > until - timeoutMs + 30_000 ? 2_000 : 250;
    }
    throw new HavenError('transient', 'Interrupted.');
  }

  /** `run`: forever: deltas, a crash bookmark per interval, requests from `haven-agent bookmark`. */
  /**
   * runForever until `signal` aborts or the control plane starts a new generation of a disk;
   * returns that disk (the caller follows the generation and opens the agent again).
   */
  async runUntilNewGeneration(
    signal: AbortSignal,
    intervalMs: number,
  ): Promise<{ diskId: string; generation: number } | undefined> {
    const inner = new AbortController();
    const stop = () => inner.abort();
    signal.addEventListener('abort', stop, { once: true });
    let next: { diskId: string; generation: number } | undefined;
    const unwatch = watchGenerations(
      this.api,
      this.identity.machineId,
      this.disks,
      GENERATION_POLL_MS,
      (diskId, generation) => {
        next = { diskId, generation };
        inner.abort();
      },
    );
    try {
      await this.runForever(inner.signal, intervalMs);
    } finally {
      unwatch();
      signal.removeEventListener('abort', stop);
    }
    return signal.aborted ? undefined : next;
  }

  async runForever(signal: AbortSignal, intervalMs: number): Promise<void> {
    const sending = this.sender.run(signal);
    const timers: NodeJS.Timeout[] = [];
    timers.push(setInterval(() => void this.writeStatus(true).catch(() => undefined), 1000));
    timers.push(setInterval(() => void this.heartbeat().catch(() => undefined), 30_000));
    timers.push(
      setInterval(() => {
        // One crash bookmark at a time: a slow pass must not queue a pile of them.
        if (!this.firstPassDone || this.crashPending) return;
        this.crashPending = true;
        void this.source
          .requestBookmark({ id: newBookmarkId(), consistency: 'crash' })
          .finally(() => (this.crashPending = false));
      }, intervalMs),
    );
    timers.push(
      setInterval(
        () =>
          void this.pollGroupCuts(signal).catch((e) =>
            this.log('group cut poll failed', { error: (e as Error).message }),
          ),
        (this.settings.groupPollSeconds ?? 5) * 1000,
      ),
    );
    const final = new FinalBookmark(
      this.source,
      () => this.api.finalBookmark(this.identity.machineId),
      (m, f) => this.log(m, f),
    );
    timers.push(
      setInterval(
        () =>
          void final
            .poll()
            .catch((e) => this.log('final bookmark poll failed', { error: (e as Error).message })),
        2_000,
      ),
    );
    timers.push(
      setInterval(
        () =>
          void this.pollRequests().catch((e) =>
            this.log('bookmark request failed', { error: (e as Error).message }),
          ),
        250,
      ),
    );
    try {
      while (!signal.aborted) {
        try {
          await this.pump(signal, () => false);
        } catch (e) {
          this.log('replication loop failed, restarting', { error: (e as Error).message });
          await sleep(2_000, signal);
        }
      }
    } finally {
      for (const t of timers) clearInterval(t);
      await sending;
    }
  }

  private pollingRequests = false;
  private async pollRequests(): Promise<void> {
    if (this.pollingRequests) return;
    this.pollingRequests = true;
    try {
      const files = await fsp.readdir(this.state.requestsDir).catch(() => [] as string[]);
      for (const f of files.filter((x) => x.endsWith('.json'))) {
        const req = await readJson<BookmarkRequestFile>(path.join(this.state.requestsDir, f));
        await fsp.rm(path.join(this.state.requestsDir, f), { force: true });
        if (!req) continue;
        this.requested.add(req.id);
        const hooks = this.settings.hooks;
        if (req.consistency === 'app' && hooks?.preFreeze)
          await runHook('pre-freeze', hooks.preFreeze, hooks.timeoutSeconds);
        try {
          await this.source.requestBookmark({ id: req.id, consistency: req.consistency });
        } finally {
          if (req.consistency === 'app' && hooks?.postThaw)
            await runHook('post-thaw', hooks.postThaw, hooks.timeoutSeconds);
        }
      }
    } finally {
      this.pollingRequests = false;
    }
  }

  private pollingGroupCuts = false;
  private controlPlaneClock?: PeerClock & { at: number };
  /** Inserts the consistency-group cuts the control plane has for this machine (each once). */
  private async pollGroupCuts(signal: AbortSignal): Promise<void> {
    if (this.pollingGroupCuts || !this.groupCuts) return;
    this.pollingGroupCuts = true;
    let cuts: GroupCut[] = [];
    let next = 0;
    try {
      const polled = await this.api.groupBookmarks(this.identity.machineId);
      this.controlPlaneClock = refineClock(this.controlPlaneClock, polled.clock, Date.now());
      cuts = this.groupCuts.take(polled.cuts);
      for (const c of cuts) {
        await this.tightenClock(c, signal);
        const plan = planCut(c, this.controlPlaneClock, Date.now());
        const barrier = plan.holdMs > 0 && this.source.holdWrites !== undefined;
        this.log('group cut', {
          bookmarkId: c.id,
          groupId: c.groupId,
          inMs: Math.round(plan.at - Date.now()),
          barrier,
          ...('notBarrier' in plan ? { why: plan.notBarrier } : {}),
        });
        await this.insertGroupCut(c, plan, signal, () => next++);
      }
    } finally {
      // Cuts not requested (a freeze hook failed): the next poll takes them again.
      for (const left of cuts.slice(next)) this.groupCuts.release(left.id);
      this.pollingGroupCuts = false;
    }
  }

  /**
   * Before a timed cut, while the estimate of the control plane's clock is looser than a quarter
   * of the hold: a few more samples (a busy host answers some polls slowly; the fastest counts).
   */
  private async tightenClock(c: GroupCut, signal: AbortSignal): Promise<void> {
    if (!c.cutAt || !c.holdMs) return;
    for (let i = 0; i < 8 && !signal.aborted; i++) {
      const clock = this.controlPlaneClock;
      // A quarter of the hold: the other quarter of this member's half is for a late timer.
      if (clock && clock.uncertaintyMs * 4 <= c.holdMs) return;
      // A sample takes a round trip: none that could end after the cut.
      const left = Date.parse(c.cutAt) - (clock?.offsetMs ?? 0) - Date.now();
      if (left < 200 + 2 * (clock?.uncertaintyMs ?? 0)) return;
      const { clock: sample } = await this.api.groupBookmarks(this.identity.machineId);
      this.controlPlaneClock = refineClock(this.controlPlaneClock, sample, Date.now());
      await sleep(100, signal);
    }
  }

  private async insertGroupCut(
    c: GroupCut,
    plan: CutPlan,
    signal: AbortSignal,
    requested: () => void,
  ): Promise<void> {
    const hooks = this.settings.hooks;
    const app = c.consistency === 'app';
    if (app && hooks?.preFreeze) await runHook('pre-freeze', hooks.preFreeze, hooks.timeoutSeconds);
    try {
      await sleep(plan.at - Date.now(), signal);
      if (signal.aborted) return; // not requested: the next run takes the cut again
      // Same turn: writes stop, then the cut goes in, so no write falls between the two.
      const held = stillBarrier(plan, Date.now());
      if (plan.holdMs > 0 && !held)
        this.log('group cut fired late: not a barrier', {
          bookmarkId: c.id,
          lateMs: Date.now() - plan.at,
        });
      const release = held ? this.source.holdWrites?.() : undefined;
      let decided: Promise<void>;
      try {
        decided = this.source.requestBookmark({
          id: c.id,
          consistency: c.consistency,
          groupId: c.groupId,
          ...(release ? { barrier: true } : {}),
        });
      } finally {
        if (release) setTimeout(release, plan.holdMs);
      }
      requested();
      await decided;
    } finally {
      if (app && hooks?.postThaw) await runHook('post-thaw', hooks.postThaw, hooks.timeoutSeconds);
    }
  }

  private async recordBookmark(b: BookmarkLogEntry): Promise<void> {
    const log = (await readJson<BookmarkLogEntry[]>(this.state.bookmarksFile)) ?? [];
    log.push(b);
    await writeFileAtomic(this.state.bookmarksFile, JSON.stringify(log.slice(-500)), 0o600);
  }

  isCut(id: string): boolean {
    return this.bookmarksCut.has(id);
  }

  status(running: boolean): AgentStatus {
    const last = this.spool.lastSeqs();
    const pendingAll = this.spool.pending().length;
    let rpoSeconds: number | undefined;
    const lb = this.lastBookmark;
    if (lb) {
      const acked = Object.entries(lb.seqs).every(([k, v]) => {
        const [diskId, gen] = k.split('/') as [string, string];
        return this.spool.ackedSeq({ diskId, generation: Number(gen) }) >= v;
      });
      if (acked) {
        lb.ackedAt ??= new Date().toISOString();
        rpoSeconds = Math.max(0, (Date.now() - Date.parse(lb.cutAt)) / 1000);
      }
    }
    return {
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      machineId: this.identity.machineId,
      running,
      disks: this.disks.map((d) => {
        const k = { diskId: d.id, generation: d.generation };
        return {
          id: d.id,
          path: d.path,
          state: !this.firstPassDone && !lb ? 'initial-sync' : pendingAll ? 'replicating' : 'idle',
          generation: d.generation,
          spoolPendingBytes: this.spool.pendingBytes(k),
          lastSpooledSeq: last[`${d.id}/${d.generation}`] ?? 0,
          lastAckedSeq: this.spool.ackedSeq(k),
        };
      }),
      ...(lb
        ? {
            lastBookmark: {
              id: lb.id,
              cutAt: lb.cutAt,
              ...(lb.ackedAt ? { ackedAt: lb.ackedAt } : {}),
            },
          }
        : {}),
      ...(rpoSeconds !== undefined ? { rpoSeconds } : {}),
      spoolBytes: this.spool.bytes(),
      droppedBatches: this.batcher.stats.droppedBatches,
      ...(this.sender.lastError ? { lastError: this.sender.lastError } : {}),
    };
  }

  async writeStatus(running: boolean): Promise<void> {
    await writeFileAtomic(
      this.state.statusFile,
      JSON.stringify(this.status(running), null, 2),
      0o600,
    );
  }

  private async heartbeat(): Promise<void> {
    const s = this.status(true);
    await this.api.heartbeat(this.identity.machineId, {
      agentVersion: AGENT_VERSION,
      // The recovered VM keeps the source's address where its subnet allows (recovery settings).
      ipv4: Object.values(os.networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4' && !a.internal)
        .map((a) => a!.address)
        .slice(0, 16),
      disks: s.disks.map((d) => ({
        id: d.id,
        state: d.state === 'idle' ? 'replicating' : d.state,
        backlogBytes: d.spoolPendingBytes,
        lastSeq: d.lastAckedSeq,
        generation: d.generation,
      })),
    });
  }

  async close(): Promise<void> {
    await this.writeStatus(false).catch(() => undefined);
    await this.source.close();
    await this.spool.close();
    await this.state.unlock();
  }
}

export const hostFacts = () => ({
  hostname: os.hostname(),
  os: `${os.type()} ${os.release()} ${os.arch()}`,
});
