import { HavenError } from '../core/errors';
import { AgentState, type AgentIdentity, type AgentSettings } from './agentState';
import type { Log } from './agentTypes';
import { Batcher } from './batcher';
import type { BatchSink } from './batchSink';
import { BookmarkRequests } from './bookmarkRequests';
import type { AgentDisk, ChangeSource } from './changeSource';
import { ControlPlaneClient } from './controlPlaneClient';
import { CutBookmarks } from './cutBookmarks';
import { DiskListing } from './diskListing';
import { sharedEncoder } from './encodePool';
import { GroupCutRunner } from './groupCutRunner';
import { GroupCuts } from './groupCuts';
import { ScanSource } from './scanSource';
import { Sender } from './sender';
import { RESEND_AFTER_MS, ResendWatch } from './resendWatch';
import { Spool } from './spool';
import { agentSpoolOptions } from './spoolTypes';
import { redoAfterCheckpoint } from './spoolRecovery';

const DEFAULT_SPOOL_BYTES = 1024 ** 3;

export interface AgentOpenOptions {
  sink: (id: AgentIdentity, api: ControlPlaneClient) => BatchSink;
  log: Log;
  intervalMs?: number;
  /** Another ChangeSource (serve-disk: the write splitter's journal); default: scan. */
  source?: (disks: AgentDisk[]) => Promise<ChangeSource>;
}

/** An open agent's parts, wired: change source → batcher → spool → sender, and the cuts. */
export interface AgentParts {
  state: AgentState;
  identity: AgentIdentity;
  settings: AgentSettings;
  disks: AgentDisk[];
  spool: Spool;
  source: ChangeSource;
  sender: Sender;
  batcher: Batcher;
  api: ControlPlaneClient;
  groupCutRunner: GroupCutRunner;
  /** Bookmarks asked for by `haven-agent bookmark`. */
  requests: BookmarkRequests;
  bookmarks: CutBookmarks;
  /** The disk listing: new generations, what Azure stored (and what to send again). */
  listing: DiskListing;
}

/**
 * Takes the state directory (pid lock), opens the spool and the change source, redoes what the
 * last checkpoint does not cover, and wires the parts. The sender's acknowledgements and the
 * batcher's checkpoints call `agent`, which the caller builds from these parts afterwards.
 */
export async function openAgentParts(
  stateDir: string,
  opts: AgentOpenOptions,
  agent: { onSent(): void; checkpoint(): Promise<void> },
): Promise<AgentParts> {
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
  const api = new ControlPlaneClient(identity.api, identity.credential);
  const sink = opts.sink(identity, api);
  const spool = await Spool.open(
    state.spoolDir,
    agentSpoolOptions(settings.spoolMaxBytes ?? DEFAULT_SPOOL_BYTES),
  );
  const source = opts.source
    ? await opts.source(disks)
    : await ScanSource.open(disks, state.indexDir, {
        intervalMs: opts.intervalMs ?? (settings.bookmarkIntervalSeconds ?? 5) * 1000,
        sentBefore: (d) => spool.nextSeq({ diskId: d.id, generation: d.generation }) > 1,
      });
  const spooledBookmarks = await redoAfterCheckpoint(spool, source, opts.log);
  const sender = new Sender(spool, sink, {
    onError: (e, attempt, wait) =>
      opts.log('send failed, retrying', {
        error: (e as Error).message,
        attempt,
        retryInMs: Math.round(wait),
      }),
    onSent: () => agent.onSent(),
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
    () => agent.checkpoint(),
    sharedEncoder(),
  );
  batcher.spooledBefore(spooledBookmarks);
  const groupCuts = await GroupCuts.load(
    state,
    spooledBookmarks.map((b) => b.id),
  );
  const groupCutRunner = new GroupCutRunner(
    api,
    identity.machineId,
    source,
    settings,
    groupCuts,
    opts.log,
  );
  const requests = new BookmarkRequests(state.requestsDir, source, settings);
  const bookmarks = new CutBookmarks(state, spool, groupCuts, requests);
  return {
    state,
    identity,
    settings,
    disks,
    spool,
    source,
    sender,
    batcher,
    api,
    groupCutRunner,
    requests,
    bookmarks,
    listing: new DiskListing(
      api,
      identity.machineId,
      disks,
      sink.confirmed
        ? new ResendWatch(
            spool,
            opts.log,
            (settings.resendAfterSeconds ?? RESEND_AFTER_MS / 1000) * 1000,
          )
        : undefined,
      opts.log,
    ),
  };
}
