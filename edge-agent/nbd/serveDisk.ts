import { createServer, type Server } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { MachineJournal, type JournalOptions } from '../journal/journal';
import { NbdServer } from './server';
import { WriteSplitter } from './writeSplitter';
import { JournalChangeSource } from './journalChangeSource';

export interface ServeDiskOptions {
  /** Disk images or block devices; each becomes an export named after its disk id. */
  disks: Array<{ path: string; diskId?: string; socketPath?: string; port?: number }>;
  journalDir: string;
  machineId?: string;
  capacityBytes?: number;
  segmentBytes?: number;
  /** Crash-consistent bookmark every N ms (0 = only on request). */
  bookmarkIntervalMs?: number;
  /** Unix socket taking JSON lines: {"op":"bookmark","id":"…","groupId":"…","consistency":"crash"|"app"}. */
  controlSocket?: string;
  log?: (msg: string) => void;
}

export interface ServingDisks {
  journal: MachineJournal;
  splitters: WriteSplitter[];
  servers: NbdServer[];
  /** The ChangeSource the agent's batcher reads (continuous mode). */
  source: JournalChangeSource;
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
    WriteSplitter.open(journal, d.diskId ?? basename(d.path).replace(/\.[^.]*$/, ''), d.path),
  );
  const servers: NbdServer[] = [];
  for (let i = 0; i < opts.disks.length; i++) {
    const d = opts.disks[i]!;
    const s = splitters[i]!;
    const server = new NbdServer({
      exports: [{ name: s.disk.diskId, description: `haven ${s.disk.diskId}`, device: s }],
      socketPath: d.socketPath,
      port: d.port,
      log,
    });
    await server.listen();
    servers.push(server);
    log(
      `serving ${d.path} as '${s.disk.diskId}' (${s.size} bytes) on ${
        server.address?.socketPath ?? `nbd://127.0.0.1:${server.address?.port}/${s.disk.diskId}`
      }`,
    );
  }
  const source = new JournalChangeSource(journal, { log });
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
    if (existsSync(opts.controlSocket)) unlinkSync(opts.controlSocket);
    control = createServer((sock) => {
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
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
        const m = JSON.parse(line) as {
          op: string;
          id?: string;
          groupId?: string;
          consistency?: 'crash' | 'app';
        };
        if (m.op === 'bookmark' && m.id) {
          await bookmark(m.id, m);
          return { ok: true, id: m.id, lsn: journal.lastLsn };
        }
        if (m.op === 'flush') {
          await Promise.all(splitters.map((s) => s.flush()));
          return { ok: true, lsn: journal.lastLsn };
        }
        if (m.op === 'status') {
          return {
            ok: true,
            lsn: journal.lastLsn,
            overflowed: journal.overflowed,
            retained: journal.retainedBytes(),
            disks: splitters.map((s) => ({ id: s.disk.diskId, ...s.stats })),
          };
        }
        return { ok: false, error: `unknown op '${m.op}'` };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    };
    await new Promise<void>((r) => control!.listen(opts.controlSocket!, () => r()));
  }

  return {
    journal,
    splitters,
    servers,
    source,
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

const USAGE = `usage: haven-agent serve-disk DISK [DISK...] (--socket PATH [--socket PATH...] | --port N)
       [--journal DIR] [--machine-id ID] [--disk-id ID...] [--bookmark-interval MS]
       [--journal-capacity BYTES] [--control PATH]
Serves each DISK (image file or block device) over NBD through the write splitter.
--port N serves disk i on port N+i (127.0.0.1 only).`;

/** Parses `serve-disk` arguments (after the command word). */
export function parseServeDiskArgs(argv: string[]): ServeDiskOptions {
  const disks: string[] = [];
  const sockets: string[] = [];
  const ids: string[] = [];
  let port: number | undefined;
  const o: Partial<ServeDiskOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--socket') sockets.push(val());
    else if (a === '--port') port = Number(val());
    else if (a === '--journal') o.journalDir = val();
    else if (a === '--machine-id') o.machineId = val();
    else if (a === '--disk-id') ids.push(val());
    else if (a === '--bookmark-interval') o.bookmarkIntervalMs = Number(val());
    else if (a === '--journal-capacity') o.capacityBytes = Number(val());
    else if (a === '--control') o.controlSocket = val();
    else if (a === '-h' || a === '--help') throw new Error(USAGE);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else disks.push(a);
  }
  if (!disks.length) throw new Error(USAGE);
  if (sockets.length && sockets.length !== disks.length)
    throw new Error(`one --socket per disk\n${USAGE}`);
  if (!sockets.length && port === undefined)
    throw new Error(`--socket or --port is required\n${USAGE}`);
  return {
    ...o,
    journalDir: o.journalDir ?? '/var/lib/haven/journal',
    disks: disks.map((path, i) => ({
      path,
      diskId: ids[i],
      socketPath: sockets[i],
      port: port === undefined ? undefined : port === 0 ? 0 : port + i,
    })),
  };
}

/** Runs serve-disk until SIGINT/SIGTERM; prints one line per served disk, then "ready". */
export async function runServeDisk(argv: string[]): Promise<void> {
  const opts = parseServeDiskArgs(argv);
  const serving = await serveDisks({ ...opts, log: (m) => console.error(m) });
  console.log('ready');
  const stop = () => {
    void serving.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  runServeDisk(process.argv.slice(2).filter((a, i) => !(i === 0 && a === 'serve-disk'))).catch(
    (e: Error) => {
      console.error(e.message);
      process.exit(2);
    },
  );
}
