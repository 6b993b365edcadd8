/** What `serveDisks` serves and how (the command's arguments map onto it). */
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
  /**
   * Drain the journal on the event loop that serves NBD, not in a worker thread: on a server
   * with one core the thread cannot run beside the event loop and only adds its own cost.
   */
  drainOnEventLoop?: boolean;
  log?: (msg: string) => void;
}

export const SERVE_DISK_USAGE = `usage: haven-agent serve-disk DISK [DISK...] --socket PATH [--socket PATH...]
       [--state-dir DIR] [--capture DIR] [--interval S] [--no-initial-sync]
       [--journal DIR] [--machine-id ID] [--disk-id ID...] [--bookmark-interval MS]
       [--journal-capacity BYTES] [--control PATH] [--caller-freezes] [--drain-on-event-loop]
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
      if (v === undefined) throw new Error(`${a} needs a value\n${SERVE_DISK_USAGE}`);
      return v;
    };
    if (a === '--socket') sockets.push(val());
    else if (a === '--port')
      throw new Error(
        `--port is not supported: NBD has no authentication, so disks are served on Unix sockets only (--socket PATH, mode 0600)\n${SERVE_DISK_USAGE}`,
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
    else if (a === '--drain-on-event-loop') o.drainOnEventLoop = true;
    else if (a === '-h' || a === '--help') throw new Error(SERVE_DISK_USAGE);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${SERVE_DISK_USAGE}`);
    else disks.push(a);
  }
  if (!disks.length) throw new Error(SERVE_DISK_USAGE);
  if (sockets.length !== disks.length)
    throw new Error(`one --socket per disk\n${SERVE_DISK_USAGE}`);
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
