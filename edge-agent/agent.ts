import type { Consistency } from '../core/batch';
import { HavenError } from '../core/errors';
import type { AgentIdentity, AgentSettings, AgentState } from './agentState';
import type { Batcher } from './batcher';
import type { AgentDisk, ChangeSource } from './changeSource';
import type { ControlPlaneClient, RecoveryPoint } from './controlPlaneClient';
import { sleep, writeFileAtomic } from './fsUtil';
import type { GroupCutRunner } from './groupCutRunner';
import type { BookmarkRequests } from './bookmarkRequests';
import type { CutBookmarks } from './cutBookmarks';
import { agentStatus, markIfAcked } from './agentStatus';
import { startAgentTimers } from './agentTimers';
import { openAgentParts, type AgentOpenOptions } from './openAgentParts';
import { waitForRecoveryPoint } from './pointWait';
import { runHook } from './hooks';
import type { DiskListing } from './diskListing';
import { rotateDataKey } from './rotateDataKey';
import { newBookmarkId, type AgentStatus, type Log } from './agentTypes';
import type { Sender } from './sender';
import type { Spool } from './spool';

/**
 * The agent: change source → batcher → spool → sender, plus bookmarks, checkpoints, status.
 * One instance owns a state directory (pid lock) while it runs.
 */
export class Agent {
  private firstPassDone = false;
  /** One crash bookmark at a time, across runs (agentTimers.ts). */
  private readonly crash = { pending: false };

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
    private readonly groupCutRunner: GroupCutRunner,
    /** Bookmarks asked for by `haven-agent bookmark`. */
    private readonly requests: BookmarkRequests,
    /** The bookmarks this run spooled (cutBookmarks.ts). */
    private readonly bookmarks: CutBookmarks,
    private readonly listing: DiskListing,
  ) {}

  static async open(stateDir: string, opts: AgentOpenOptions): Promise<Agent> {
    let self: Agent | undefined = undefined;
    const p = await openAgentParts(stateDir, opts, {
      onSent: () => {
        if (self?.bookmarks.last) markIfAcked(self.bookmarks.last, self.spool);
      },
      checkpoint: () => self?.checkpoint() ?? Promise.resolve(),
    });
    self = new Agent(
      p.state,
      p.identity,
      p.settings,
      p.disks,
      p.spool,
      p.source,
      p.sender,
      p.batcher,
      p.api,
      opts.log,
      p.groupCutRunner,
      p.requests,
      p.bookmarks,
      p.listing,
    );
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
          await this.bookmarks.spooled(r.bookmark, cutAt);
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
    if (!this.bookmarks.has(id))
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
    // Its point waits for every batch before it: one lost on the way is sent again meanwhile.
    const unwatch = this.listing.watch(() => undefined);
    try {
      const id = await this.cut(opts.consistency ?? 'crash', newBookmarkId(opts.tag), opts.signal);
      this.log('bookmark spooled', { bookmarkId: id });
      await this.sender.drained(opts.signal);
      if (opts.signal.aborted) throw new HavenError('transient', 'Interrupted.');
      // Normally stamped already, at the ack itself (onSent); this keeps that exact time.
      if (this.bookmarks.last?.id === id) markIfAcked(this.bookmarks.last, this.spool);
      this.log('bookmark sent', { bookmarkId: id });
      await this.writeStatus(true);
      const point = await this.waitForPoint(id, opts.signal, opts.pointTimeoutMs ?? 15 * 60_000);
      await this.listing.confirmStored(); // the spool exits with nothing kept
      return point;
    } finally {
      unwatch();
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
    const unwatch = this.listing.watch((diskId, generation) => {
      next = { diskId, generation };
      inner.abort();
    });
    try {
      await this.runForever(inner.signal, intervalMs);
    } finally {
      unwatch();
      signal.removeEventListener('abort', stop);
    }
    return signal.aborted ? undefined : next;
  }

  /** `run`: forever: deltas, a crash bookmark per interval, requests from `haven-agent bookmark`. */
  async runForever(signal: AbortSignal, intervalMs: number): Promise<void> {
    const sending = this.sender.run(signal);
    const timers = startAgentTimers(
      {
        machineId: this.identity.machineId,
        api: this.api,
        source: this.source,
        settings: this.settings,
        requests: this.requests,
        groupCutRunner: this.groupCutRunner,
        log: this.log,
        status: () => this.status(true),
        writeStatus: () => this.writeStatus(true),
        rotateKey: () => this.rotateKey(),
        firstPassDone: () => this.firstPassDone,
        crash: this.crash,
      },
      signal,
      intervalMs,
    );
    try {
      while (!signal.aborted) {
        try {
          await this.pump(signal, () => false);
        } catch (e) {
          this.log('replication loop failed, restarting', { error: (e as Error).message });
          // Records the failed loop was handed and did not spool must come again: the batcher
          // forgets what the spool did not take, then the source hands it out again.
          await this.batcher.reset();
          await this.source.rewind?.();
          await sleep(2_000, signal);
        }
      }
    } finally {
      for (const t of timers) clearInterval(t);
      await sending;
    }
  }

  status(running: boolean): AgentStatus {
    return agentStatus({
      machineId: this.identity.machineId,
      disks: this.disks,
      spool: this.spool,
      lastBookmark: this.bookmarks.last,
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

  /** Takes the new data key an admin asked for (saved first); batches sealed from now on name it. */
  async rotateKey(): Promise<void> {
    const k = await rotateDataKey(this.api, this.state, this.identity.machineId);
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
