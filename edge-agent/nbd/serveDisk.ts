import type { Server } from 'node:net';
import { existsSync, realpathSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HavenError, isHavenError } from '../../core/errors';
import { Agent } from '../agent';
import { AgentState, DEFAULT_STATE_DIR } from '../agentState';
import { sinkFor } from '../sender';
import { MachineJournal } from '../journal/journal';
import type { JournalOptions } from '../journal/journalTypes';
import { NbdServer } from './server';
import { parseControl } from './controlMessage';
import { listenControl } from './controlServer';
import { parseServeDiskArgs, type ServeDiskArgs, type ServeDiskOptions } from './serveDiskArgs';
import { WriteSplitter } from './writeSplitter';
import { JournalChangeSource } from './journalChangeSource';
import { WriteGate } from './writeGate';
import { followGenerationsOf } from '../generations';
import { redact } from '../redact';

export type { ServeDiskOptions } from './serveDiskArgs';

export interface ServingDisks {
  journal: MachineJournal;
  splitters: WriteSplitter[];
  servers: NbdServer[];
  /** The ChangeSource the agent's batcher reads (continuous mode); an agent closes it. */
  readonly source: JournalChangeSource;
  /** A fresh source for the next agent (a generation switch restarts the agent, not the disks). */
  reopenSource(): JournalChangeSource;
  /** Sends a whole disk again from its image (a new generation: a fresh replica). */
  resyncWholeDisk(diskId: string): void;
  /** Inserts a bookmark on every disk (consistency groups: the control plane chooses id + groupId). */
  bookmark(id: string, opts?: { groupId?: string; consistency?: 'crash' | 'app' }): Promise<void>;
  close(): Promise<void>;
}

/**
 * `haven-agent serve-disk`: the agent becomes the only writer of its disks and serves them over
 * NBD; the machine's filesystems live on /dev/nbdX (nbd-client) so every write passes through
 * the splitter. One journal for all disks of the machine (machine-wide bookmarks).
 */
export async function serveDisks(opts: ServeDiskOptions): Promise<ServingDisks> {
  const log = opts.log ?? (() => {});
  const jopts: JournalOptions = {
    dir: opts.journalDir,
    machineId: opts.machineId,
    capacityBytes: opts.capacityBytes,
    segmentBytes: opts.segmentBytes,
    log,
  };
  const journal = MachineJournal.open(jopts);
  log(`journal ${opts.journalDir}: ${journal.recovery}`);
  const splitters = opts.disks.map((d) =>
    WriteSplitter.open(journal, d.diskId ?? basename(d.path).replace(/\.[^.]*$/, ''), d.path, {
      initialSync: opts.initialSync,
    }),
  );
  const servers: NbdServer[] = [];
  for (let i = 0; i < opts.disks.length; i++) {
    const d = opts.disks[i]!;
    const s = splitters[i]!;
    const server = new NbdServer({
      exports: [{ name: s.disk.diskId, description: `haven ${s.disk.diskId}`, device: s }],
      socketPath: d.socketPath,
      log,
    });
    await server.listen();
    servers.push(server);
    log(`serving ${d.path} as '${s.disk.diskId}' (${s.size} bytes) on ${d.socketPath}`);
  }
  // One gate for every disk: a group cut's barrier holds the machine's writes, not one disk's.
  const gate = new WriteGate();
  for (const s of splitters) s.gate = gate;
  const drainThread = !opts.drainOnEventLoop;
  let source = new JournalChangeSource(journal, { log, gate, drainThread });
  // The cut goes into the journal, which outlives every source: nothing is lost across a reopen.
  const bookmark = async (
    id: string,
    o: { groupId?: string; consistency?: 'crash' | 'app' } = {},
  ) => source.requestBookmark({ id, consistency: o.consistency ?? 'crash', groupId: o.groupId });

  let timer: NodeJS.Timeout | undefined;
  if (opts.bookmarkIntervalMs) {
    let n = 0;
    timer = setInterval(() => {
      void bookmark(`${journal.machineId}-${Date.now()}-${n++}`);
    }, opts.bookmarkIntervalMs);
  }
  let control: Server | undefined;
  if (opts.controlSocket) {
    const handleControl = async (line: string): Promise<Record<string, unknown>> => {
      try {
        const m = parseControl(line, opts.appHooks === true);
        if (m.op === 'bookmark') {
          // The cut is appended synchronously inside bookmark(); the counters read right after,
          // in the same turn, say how many changes of each disk precede it.
          const cut = bookmark(m.id, m);
          const changes = splitters.map((s) => s.stats.writes + s.stats.zeroes);
          const lsn = journal.lastLsn;
          await cut;
          return { ok: true, id: m.id, lsn, changes };
        }
        if (m.op === 'flush') {
          await Promise.all(splitters.map((s) => s.flush()));
          return { ok: true, lsn: journal.lastLsn };
        }
        return {
          ok: true,
          lsn: journal.lastLsn,
          overflowed: journal.overflowed,
          retained: journal.retainedBytes(),
          disks: splitters.map((s) => ({ id: s.disk.diskId, ...s.stats })),
        };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    };
    control = await listenControl(opts.controlSocket, handleControl);
  }

  return {
    journal,
    splitters,
    servers,
    get source() {
      return source;
    },
    reopenSource() {
      source = new JournalChangeSource(journal, { log, gate, drainThread });
      return source;
    },
    resyncWholeDisk(diskId: string) {
      const s = splitters.find((x) => x.disk.diskId === diskId);
      if (!s) throw new Error(`serve-disk: no disk ${diskId}`);
      journal.resyncWholeDisk(s.disk.index);
      log(`disk ${diskId}: new generation, the whole disk is sent again from its image`);
    },
    bookmark,
    async close() {
      if (timer) clearInterval(timer);
      await new Promise<void>((r) => (control ? control.close(() => r()) : r()));
      for (const s of servers) await s.close();
      for (const s of splitters) await s.flush();
      await source.close();
      await journal.close();
      for (const s of splitters) await s.close();
    },
  };
}

function realpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * One line of serve-disk's log. Sender and SDK errors reach it and can quote a SAS URL, a
 * connection string or the machine credential: they are redacted as in the agent's own log.
 */
export function serveDiskLogLine(msg: string, fields?: Record<string, unknown>): string {
  return redact(`${new Date().toISOString()} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
}

/**
 * Runs serve-disk until SIGINT/SIGTERM; prints "ready" once every disk is served. Returns the
 * exit code (the CLI's main() contract).
 */
export async function runServeDisk(argv: string[]): Promise<number> {
  let args: ServeDiskArgs;
  try {
    args = parseServeDiskArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const log = (msg: string, fields?: Record<string, unknown>) =>
    console.error(serveDiskLogLine(msg, fields));
  const stateDir =
    args.stateDir ??
    (existsSync(join(DEFAULT_STATE_DIR, 'agent.json')) ? DEFAULT_STATE_DIR : undefined);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (!stateDir) {
      // Serve and journal only (no enrolled agent here).
      const serving = await serveDisks({
        ...args,
        journalDir: args.journalDir || '/var/lib/haven/journal',
        disks: args.disks.map((d) => ({ ...d })),
        log,
      });
      console.log('ready');
      await new Promise<void>((r) =>
        ac.signal.addEventListener('abort', () => r(), { once: true }),
      );
      await serving.close();
      return 0;
    }
    const state = new AgentState(resolve(stateDir));
    const known = await state.disks();
    const disks = args.disks.map((d) => {
      const k = known.find((x) => realpath(x.path) === realpath(d.path));
      if (!k)
        throw new HavenError(
          'precondition',
          `${d.path} is not a protected disk; run 'haven-agent disk add ${d.path}' first.`,
        );
      return { ...d, diskId: k.id };
    });
    const settings = await state.settings();
    const serving = await serveDisks({
      ...args,
      appHooks: !!(settings.hooks?.preFreeze || settings.hooks?.postThaw),
      bookmarkIntervalMs: 0, // the agent's policy timer cuts bookmarks
      journalDir: args.journalDir || join(state.dir, 'journal'),
      disks,
      initialSync: args.initialSync,
      log,
    });
    try {
      await replicateFromJournal(state, serving, args, ac.signal, log);
    } finally {
      await serving.close();
    }
    return 0;
  } catch (e) {
    console.error(`haven-agent: ${redact((e as Error).message)}`);
    return isHavenError(e) && e.kind === 'validation' ? 2 : 1;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

/**
 * The agent replicates from the journal while the disks stay served. When the control plane
 * starts a new generation of a disk (resync, integrity incident), only the agent restarts: it
 * drops the old generation's unsent batches, and the whole disk is sent again into the fresh
 * replica, then the journal goes on.
 */
async function replicateFromJournal(
  state: AgentState,
  serving: ServingDisks,
  args: ServeDiskArgs,
  signal: AbortSignal,
  log: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<void> {
  for (let first = true; ; first = false) {
    const source = first ? serving.source : serving.reopenSource();
    const switched = await followGenerationsOf(state, log, { scanIndex: false });
    for (const c of switched) serving.resyncWholeDisk(c.diskId);
    if (switched.length) source.dropBookmarksThrough(serving.journal.lastLsn);
    const agent = await Agent.open(state.dir, {
      log,
      source: async () => source,
      sink: sinkFor(args.capture),
    });
    let next: { diskId: string; generation: number } | undefined;
    try {
      if (first) console.log('ready');
      log('replicating from the write journal', {
        machineId: agent.identity.machineId,
        disks: agent.disks.map((d) => `${d.id} gen ${d.generation}`),
      });
      next = await agent.runUntilNewGeneration(
        signal,
        (args.intervalSeconds ?? agent.settings.bookmarkIntervalSeconds ?? 5) * 1000,
      );
    } finally {
      await agent.close();
    }
    if (!next) return;
    log('disk has a new generation; restarting replication (the disks stay served)', next);
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  void runServeDisk(argv[0] === 'serve-disk' ? argv.slice(1) : argv).then((code) =>
    process.exit(code),
  );
}
