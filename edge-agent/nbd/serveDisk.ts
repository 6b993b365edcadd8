import { createServer, type Server } from 'node:net';
import { existsSync, realpathSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HavenError, isHavenError } from '../../core/errors';
import { Agent } from '../agent';
import { AgentState, DEFAULT_STATE_DIR } from '../agentState';
import { sinkFor } from '../sender';
import { MachineJournal } from '../journal/journal';
import type { JournalOptions } from '../journal/journalTypes';
import { NbdServer } from './server';
import { listenPrivate } from './privateSocket';
import { parseControl, MAX_CONTROL_LINE } from './controlMessage';
import { WriteSplitter } from './writeSplitter';
import { JournalChangeSource } from './journalChangeSource';
import { WriteGate } from './writeGate';
import { followGenerationsOf } from '../generations';
import { redact } from '../redact';

export interface ServeDiskOptions {
  /** Disk images or block devices; each becomes an export named after its disk id. */
  /** Each disk's NBD Unix socket (mode 0600: only the agent's user can open the disk). */
  disks: Array<{ path: string; diskId?: string; socketPath: string }>;
  journalDir: string;
  /** Send each disk's whole content first when it is new to the journal (the replica lacks it). */
  initialSync?: boolean;
  machineId?: string;
  capacityBytes?: number;
  segmentBytes?: number;
  /** Crash-consistent bookmark every N ms (0 = only on request). */
  bookmarkIntervalMs?: number;
  /** Unix socket (0600) taking JSON lines: {"op":"bookmark","id":"…","groupId":"…","consistency":"crash"|"app"}. */
  controlSocket?: string;
  /** Freeze/thaw hooks are configured: only then may a bookmark claim to be app-consistent. */
  appHooks?: boolean;
  log?: (msg: string) => void;
}

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
  let source = new JournalChangeSource(journal, { log, gate });
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
    control = createServer((sock) => {
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        if (buf.length > MAX_CONTROL_LINE && !buf.includes('\n')) {
          sock.end(
            `${JSON.stringify({ ok: false, error: `line longer than ${MAX_CONTROL_LINE} bytes` })}\n`,
          );
          buf = '';
          return;
        }
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          void handleControl(line).then((r) => sock.write(`${JSON.stringify(r)}\n`));
        }
      });
      sock.on('error', () => sock.destroy());
    });
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
    await listenPrivate(control, opts.controlSocket);
  }

  return {
    journal,
    splitters,
    servers,
    get source() {
      return source;
    },
    reopenSource() {
      source = new JournalChangeSource(journal, { log, gate });
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
      for (const s of splitters) s.close();
    },
  };
}

const USAGE = `usage: haven-agent serve-disk DISK [DISK...] --socket PATH [--socket PATH...]
       [--state-dir DIR] [--capture DIR] [--interval S] [--no-initial-sync]
       [--journal DIR] [--machine-id ID] [--disk-id ID...] [--bookmark-interval MS]
       [--journal-capacity BYTES] [--control PATH] [--caller-freezes]
Serves each DISK (image file or block device) over NBD through the write splitter.
Each disk is served on its own Unix socket (mode 0600; NBD has no authentication, so no TCP).
With an enrolled agent state dir (--state-dir, or the default one if it holds agent.json) the
agent replicates from the journal (batcher, spool, sender); the disks must have been added with
'haven-agent disk add'. Without one it only serves and journals; app-consistent bookmarks on the
control socket are then refused unless --caller-freezes says its caller quiesces the
application itself before asking (an agent state dir uses the agent's freeze hooks instead).`;

export interface ServeDiskArgs extends ServeDiskOptions {
  stateDir?: string;
  capture?: string;
  intervalSeconds?: number;
  initialSync: boolean;
}

/** Parses `serve-disk` arguments (after the command word). */
export function parseServeDiskArgs(argv: string[]): ServeDiskArgs {
  const disks: string[] = [];
  const sockets: string[] = [];
  const ids: string[] = [];
  const o: Partial<ServeDiskArgs> = {};
  let initialSync = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--socket') sockets.push(val());
    else if (a === '--port')
      throw new Error(
        `--port is not supported: NBD has no authentication, so disks are served on Unix sockets only (--socket PATH, mode 0600)\n${USAGE}`,
      );
    else if (a === '--journal') o.journalDir = val();
    else if (a === '--machine-id') o.machineId = val();
    else if (a === '--disk-id') ids.push(val());
    else if (a === '--bookmark-interval') o.bookmarkIntervalMs = Number(val());
    else if (a === '--journal-capacity') o.capacityBytes = Number(val());
    else if (a === '--control') o.controlSocket = val();
    else if (a === '--state-dir') o.stateDir = val();
    else if (a === '--capture') o.capture = val();
    else if (a === '--interval') o.intervalSeconds = Number(val());
    else if (a === '--no-initial-sync') initialSync = false;
    else if (a === '--caller-freezes') o.appHooks = true;
    else if (a === '-h' || a === '--help') throw new Error(USAGE);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else disks.push(a);
  }
  if (!disks.length) throw new Error(USAGE);
  if (sockets.length !== disks.length) throw new Error(`one --socket per disk\n${USAGE}`);
  return {
    ...o,
    initialSync,
    journalDir: o.journalDir ?? '',
    disks: disks.map((path, i) => ({
      path,
      diskId: ids[i],
      socketPath: sockets[i]!,
    })),
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
