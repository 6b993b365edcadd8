import * as path from 'node:path';
import { HavenError, isHavenError } from '../core/errors';
import { Agent } from './agent';
import { AgentState, DEFAULT_STATE_DIR, dataKeyOf } from './agentState';
import { bookmarkCommand } from './bookmarkCommand';
import { parseArgs, str } from './cliArgs';
import { logger, signalController, type CliContext } from './cliContext';
import { ControlPlaneClient } from './controlPlaneClient';
import { diskCommand } from './diskCommand';
import { enrollCommand } from './enrollCommand';
import { redact } from './redact';
import { followGenerationsOf } from './generations';
import { makeProgress } from './progress';
import { restoreDisk } from './restore';
import { receiveFailback } from './failbackReceive';
import { adoptSiteDisk } from './adoptSiteDisk';
import { runServeDisk } from './nbd/serveDisk';
import { sinkFor } from './sender';
import { statusCommand } from './statusCommand';

const USAGE = `usage: haven-agent <command> [options]
  enroll --api URL --token-file F [--name N] enroll this machine (stores credential + data key, 0600);
                                             --token - reads the token from stdin, --token T takes it
                                             from the command line (visible in ps); the URL is https
                                             (plain http only to this host); a replacement token
                                             (haven machine replace M) takes over machine M
  disk add PATH                              protect a block device or raw image
  disk list
  run [--once] [--json] [--interval S]       replicate; --once: sync, cut a bookmark, wait for its recovery point
  bookmark [--app] [--tag T] [--json]        cut a bookmark now (--app: run the freeze/thaw hooks around it)
  status [--json]                            per disk: state, spool backlog, acked seq, RPO
  restore --point ID --disk DISK --to PATH [--json]
  failback-receive --disk DISK --to PATH [--wait] [--json]
                                             failback: prove PATH equals the failover point, apply the reverse batches in order, report the digest
  serve-disk DISK... --socket PATH...        serve disks over NBD (0600 Unix sockets) through the write splitter (docs/nbd.md)
common: --state-dir D (default ${DEFAULT_STATE_DIR}); run --capture DIR writes batches to DIR instead of Event Hubs`;

export async function main(argv: string[]): Promise<number> {
  // serve-disk has repeatable options (--socket per disk): it parses its own arguments.
  if (argv[0] === 'serve-disk') return runServeDisk(argv.slice(1));
  let json = false;
  try {
    const a = parseArgs(argv);
    json = a.flags.json === true;
    if (a.flags.help || a._.length === 0) {
      process.stdout.write(USAGE + '\n');
      return a._.length === 0 && !a.flags.help ? 2 : 0;
    }
    const state = new AgentState(path.resolve(str(a, 'state-dir') ?? DEFAULT_STATE_DIR));
    const print = (human: string, obj: unknown) =>
      process.stdout.write((json ? JSON.stringify(obj) : human) + '\n');
    const log = logger(json);
    const ctx: CliContext = { a, json, state, print, log };
    const [cmd] = a._;
    switch (cmd) {
      case 'enroll':
        return await enrollCommand(ctx);
      case 'disk':
        return await diskCommand(ctx);
      case 'run': {
        const capture = str(a, 'capture');
        const interval = Number(str(a, 'interval') ?? '0') * 1000 || undefined;
        const ac = signalController();
        // `run` replicates the disks' current generations; a resync during `run` restarts it.
        for (;;) {
          await followGenerationsOf(state, log);
          const agent = await Agent.open(state.dir, {
            log,
            intervalMs: interval,
            sink: sinkFor(capture),
          });
          let next: { diskId: string; generation: number } | undefined;
          try {
            if (a.flags.once) {
              const p = await agent.once({
                signal: ac.signal,
                tag: str(a, 'tag'),
                pointTimeoutMs: Number(str(a, 'timeout') ?? 900) * 1000,
              });
              print(p.id, { recoveryPoint: p, status: agent.status(false) });
              return 0;
            }
            log('replicating', { machineId: agent.identity.machineId, disks: agent.disks.length });
            next = await agent.runUntilNewGeneration(
              ac.signal,
              interval ?? (agent.settings.bookmarkIntervalSeconds ?? 5) * 1000,
            );
          } finally {
            await agent.close();
          }
          if (!next) return 0;
          log('disk has a new generation; restarting replication', next);
        }
      }
      case 'bookmark':
        return await bookmarkCommand(ctx);
      case 'status':
        return await statusCommand(ctx);
      case 'restore': {
        const id = await state.identity();
        const pointId = str(a, 'point', true)!;
        const diskId = str(a, 'disk', true)!;
        const to = path.resolve(str(a, 'to', true)!);
        const progress = makeProgress({ json, tty: !!process.stderr.isTTY });
        const r = await restoreDisk(
          new ControlPlaneClient(id.api, id.credential),
          id.machineId,
          pointId,
          diskId,
          to,
          progress,
        );
        print(
          `Restored ${diskId} of ${pointId} to ${to}: ${(r.bytesWritten / 2 ** 20).toFixed(1)} MiB written of ${(r.sizeBytes / 2 ** 20).toFixed(1)} MiB; digest ${r.verified ? 'verified' : 'not recorded by the point'}.`,
          r,
        );
        return 0;
      }
      case 'failback-receive': {
        const id = await state.identity();
        const diskId = str(a, 'disk', true)!;
        const to = path.resolve(str(a, 'to', true)!);
        const api = new ControlPlaneClient(id.api, id.credential);
        const r = await receiveFailback({
          api,
          machineId: id.machineId,
          diskId,
          target: to,
          stateDir: state.dir,
          keyOf: (keyId) => dataKeyOf(id, keyId),
          progress: makeProgress({ json, tty: !!process.stderr.isTTY }),
          wait: a.flags.wait === true,
        });
        const siteDisk = r.done
          ? await adoptSiteDisk(state, api, id.machineId, diskId, to)
          : undefined;
        print(
          `Failback of ${diskId} onto ${to}: ${r.batchesApplied} reverse batches applied (${(r.bytesFetched / 2 ** 20).toFixed(1)} MiB fetched), up to #${r.lastSeq}; ${r.done ? `digest equals the Azure disk: done${siteDisk === 'kept' ? '' : ` (the agent now protects ${to} as ${diskId})`}` : 'final diff not listed yet'}.`,
          { ...r, ...(siteDisk ? { siteDisk } : {}) },
        );
        return 0;
      }
      default:
        throw new HavenError('validation', `Unknown command '${cmd}'. Run haven-agent --help.`);
    }
  } catch (e) {
    const kind = isHavenError(e) ? e.kind : 'internal';
    const message = isHavenError(e)
      ? e.message
      : `Unexpected failure: ${(e as Error)?.message ?? String(e)}`;
    if (process.env.HAVEN_AGENT_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    if (json)
      process.stdout.write(JSON.stringify({ error: { kind, message: redact(message) } }) + '\n');
    else process.stderr.write(`haven-agent: ${redact(message)}\n`);
    return kind === 'validation' ? 2 : 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
