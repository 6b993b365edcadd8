import * as path from 'node:path';
import type { Consistency } from '../core/batch';
import { HavenError } from '../core/errors';
import { AgentState, type AgentIdentity, type AgentSettings } from './agentState';
import { Batcher } from './batcher';
import { sharedEncoder } from './encodePool';
import type { AgentDisk, ChangeSource } from './changeSource';
import { ControlPlaneClient, type RecoveryPoint } from './controlPlaneClient';
import { readJson, sleep, writeFileAtomic } from './fsUtil';
import { GENERATION_POLL_MS, watchGenerations } from './generations';
import { GroupCuts } from './groupCuts';
import { GroupCutRunner } from './groupCutRunner';
import { BookmarkRequests } from './bookmarkRequests';
import { heartbeatReport } from './heartbeatReport';
import { agentStatus, markIfAcked } from './agentStatus';
import { redoAfterCheckpoint } from './spoolRecovery';
import { waitForRecoveryPoint } from './pointWait';
import { runHook } from './hooks';
import { FinalBookmark } from './finalBookmark';
import { ScanSource } from './scanSource';
import { newBookmarkId, type AgentStatus, type BookmarkLogEntry, type Log } from './agentTypes';
import type { BatchSink } from './batchSink';
import { Sender } from './sender';
import { Spool } from './spool';

const DEFAULT_SPOOL_BYTES = 1024 ** 3;

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
  private requests!: BookmarkRequests;
  private crashPending = false;
  /** Consistency-group cuts: set by open(), each inserted at most once. */
  private groupCuts?: GroupCuts;
  private groupCutRunner?: GroupCutRunner;

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
    const spooledBookmarks = await redoAfterCheckpoint(spool, source, opts.log);
    const api = new ControlPlaneClient(identity.api, identity.credential);
    const sink = opts.sink(identity, api);
    let self: Agent | undefined = undefined;
    const sender = new Sender(spool, sink, {
      onError: (e, attempt, wait) =>
        opts.log('send failed, retrying', {
          error: (e as Error).message,
          attempt,
          retryInMs: Math.round(wait),
        }),
      onSent: () => {
        if (self?.lastBookmark) markIfAcked(self.lastBookmark, spool);
      },
    });
    const sealing = {
      machineId: identity.machineId,
      keyId: identity.keyId,
      key: Buffer.from(identity.dataKey, 'base64'),
    };
    const batcher = new Batcher(
      spool,
      source,
      new Map(disks.map((d) => [d.id, d])),
      sealing,
      () => self?.checkpoint() ?? Promise.resolve(),
      sharedEncoder(),
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
    self.groupCutRunner = new GroupCutRunner(
      api,
      identity.machineId,
      source,
      settings,
      self.groupCuts,
      opts.log,
    );
    self.requests = new BookmarkRequests(state.requestsDir, source, settings);
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
          if (this.requests.requested.delete(r.bookmark)) {
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
      // Normally stamped already, at the ack itself (onSent); this keeps that exact time.
      if (this.lastBookmark?.id === id) markIfAcked(this.lastBookmark, this.spool);
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

  waitForPoint(id: string, signal: AbortSignal, timeoutMs: number): Promise<RecoveryPoint> {
    return waitForRecoveryPoint(this.api, this.identity.machineId, id, {
      signal,
      timeoutMs,
      log: this.log,
    });
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
    timers.push(
      setInterval(
        () =>
          void this.api
            .heartbeat(this.identity.machineId, heartbeatReport(this.status(true)))
            .then((r) => (r.rotateKey ? this.rotateKey() : undefined))
            .catch((e: unknown) =>
              this.log('heartbeat or key rotation failed', { error: (e as Error).message }),
            ),
        30_000,
      ),
    );
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
          void this.groupCutRunner
            ?.poll(signal)
            .catch((e) => this.log('group cut poll failed', { error: (e as Error).message })),
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
          void this.requests
            .poll()
            .catch((e) => this.log('bookmark request failed', { error: (e as Error).message })),
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

  private async recordBookmark(b: BookmarkLogEntry): Promise<void> {
    const log = (await readJson<BookmarkLogEntry[]>(this.state.bookmarksFile)) ?? [];
    log.push(b);
    await writeFileAtomic(this.state.bookmarksFile, JSON.stringify(log.slice(-500)), 0o600);
  }

  isCut(id: string): boolean {
    return this.bookmarksCut.has(id);
  }

  status(running: boolean): AgentStatus {
    return agentStatus({
      machineId: this.identity.machineId,
      disks: this.disks,
      spool: this.spool,
      lastBookmark: this.lastBookmark,
      firstPassDone: this.firstPassDone,
      droppedBatches: this.batcher.stats.droppedBatches,
      lastError: this.sender.lastError,
      running,
      sendBytesPerSecond: this.sender.rate.perSecond(),
      bookmarkIntervalSeconds: this.settings.bookmarkIntervalSeconds ?? 5,
    });
  }

  async writeStatus(running: boolean): Promise<void> {
    await writeFileAtomic(
      this.state.statusFile,
      JSON.stringify(this.status(running), null, 2),
      0o600,
    );
  }

  /**
   * Takes the new data key an admin asked for: saved first (a crash after this keeps using it),
   * then batches sealed from now on name it. Batches already spooled keep the old key, which
   * the cloud still holds, so nothing needs re-sealing.
   */
  async rotateKey(): Promise<void> {
    const k = await this.api.takeDataKey(this.identity.machineId);
    // Read back: an earlier rotation of this run saved a newer identity than the one we started with.
    const cur = await this.state.identity();
    // The old key stays with the agent: reverse batches sealed under it may still arrive.
    const previousKeys = [...(cur.previousKeys ?? []), { keyId: cur.keyId, dataKey: cur.dataKey }];
    await this.state.saveIdentity({ ...cur, keyId: k.keyId, dataKey: k.dataKey, previousKeys });
    this.batcher.useKey(k.keyId, Buffer.from(k.dataKey, 'base64'));
    this.log('data key rotated', { keyId: k.keyId });
  }

  async close(): Promise<void> {
    await this.writeStatus(false).catch(() => undefined);
    await this.source.close();
    await this.spool.close();
    await this.state.unlock();
  }
}
