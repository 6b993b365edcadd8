import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { HavenError, isHavenError } from '../core/errors';
import { Agent } from './agent';
import {
  AGENT_VERSION,
  hostFacts,
  newBookmarkId,
  type AgentStatus,
  type BookmarkLogEntry,
  type BookmarkRequestFile,
} from './agentTypes';
import { AgentState, DEFAULT_STATE_DIR, dataKeyOf } from './agentState';
import type { AgentDisk } from './changeSource';
import { ControlPlaneClient } from './controlPlaneClient';
import { diskFacts, diskIdFor } from './diskInfo';
import { checkApiUrl, readEnrollToken } from './enrollInputs';
import { redact } from './redact';
import { followGenerationsOf } from './generations';
import { readJson, sleep, writeFileAtomic } from './fsUtil';
import { makeProgress } from './progress';
import { restoreDisk } from './restore';
import { receiveFailback } from './failbackReceive';
import { adoptSiteDisk } from './adoptSiteDisk';
import { runServeDisk } from './nbd/serveDisk';
import { sinkFor } from './sender';

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

interface Args {
  _: string[];
  flags: Record<string, string | true>;
}

const BOOL_FLAGS = new Set(['once', 'json', 'app', 'help', 'wait']);

export function parseArgs(argv: string[]): Args {
  const out: Args = { _: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) out.flags[name] = a.slice(eq + 1);
      else if (BOOL_FLAGS.has(name)) out.flags[name] = true;
      else {
        const v = argv[++i];
        if (v === undefined) throw new HavenError('validation', `Option --${name} needs a value.`);
        out.flags[name] = v;
      }
    } else out._.push(a);
  }
  return out;
}

const str = (a: Args, name: string, required = false): string | undefined => {
  const v = a.flags[name];
  if (v === true || (required && v === undefined))
    throw new HavenError('validation', `Option --${name} is required and takes a value.`);
  return v as string | undefined;
};

function logger(json: boolean) {
  return (msg: string, fields?: Record<string, unknown>) => {
    const line = json
      ? JSON.stringify({ at: new Date().toISOString(), msg, ...fields })
      : `${new Date().toISOString()} ${msg}${
          fields
            ? ' ' +
              Object.entries(fields)
                .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
                .join(' ')
            : ''
        }`;
    process.stderr.write(redact(line) + '\n');
  };
}

function signalController(): AbortController {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac;
}

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
    const [cmd, sub] = a._;
    switch (cmd) {
      case 'enroll': {
        const api = checkApiUrl(str(a, 'api', true)!);
        const token = await readEnrollToken({
          token: str(a, 'token'),
          tokenFile: str(a, 'token-file'),
        });
        const name = str(a, 'name') ?? hostFacts().hostname;
        const existing = await readJson(state.identityFile);
        if (existing)
          throw new HavenError(
            'conflict',
            `This agent is already enrolled (${state.identityFile}).`,
          );
        const disks = await state.disks();
        const e = await new ControlPlaneClient(api).enroll({
          token,
          hostname: name,
          os: hostFacts().os,
          agentVersion: AGENT_VERSION,
          disks: disks.map((d) => ({
            id: d.id,
            sizeBytes: d.sizeBytes,
            logicalSectorSize: d.sectorSize,
          })),
        });
        const previousKeys = e.replaced?.previousKeys.map((k) => ({
          keyId: k.keyId,
          dataKey: k.key,
        }));
        await state.saveIdentity({
          api,
          machineId: e.machineId,
          credential: e.credential,
          keyId: e.dataKey.keyId,
          dataKey: e.dataKey.key,
          ...(previousKeys?.length ? { previousKeys } : {}),
          name,
          enrolledAt: new Date().toISOString(),
        });
        print(
          e.replaced
            ? `Took over machine ${e.machineId}: the old agent's credential no longer works; new batches use a new data key.`
            : `Enrolled as machine ${e.machineId}.`,
          { machineId: e.machineId, siteId: e.siteId, stateDir: state.dir, replaced: !!e.replaced },
        );
        return 0;
      }
      case 'disk': {
        if (sub === 'list') {
          const disks = await state.disks();
          print(
            disks
              .map((d) => `${d.id}\t${d.path}\t${d.sizeBytes}\tgen ${d.generation}`)
              .join('\n') || '(no disks)',
            { disks },
          );
          return 0;
        }
        if (sub !== 'add' || !a._[2])
          throw new HavenError('validation', 'Usage: haven-agent disk add PATH');
        const id = await state.identity();
        const facts = await diskFacts(a._[2]);
        const diskId = diskIdFor(facts);
        const disks = await state.disks();
        // The id hashes the size, so a resized disk is found by its path: same disk, new size.
        const known =
          disks.find((d) => d.id === diskId) ?? disks.find((d) => d.path === facts.path);
        const disk: AgentDisk = known ?? {
          id: diskId,
          path: facts.path,
          sizeBytes: facts.sizeBytes,
          sectorSize: facts.sectorSize,
          generation: 1,
        };
        // A known disk with a new size is a resync: the control plane answers its new generation
        // (the next run drops the old generation's unsent batches and starts a fresh index).
        const cloud = await new ControlPlaneClient(id.api, id.credential).addDisk(id.machineId, {
          id: disk.id,
          sizeBytes: facts.sizeBytes,
          logicalSectorSize: disk.sectorSize,
        });
        const resized = !!known && known.sizeBytes !== facts.sizeBytes;
        disk.sizeBytes = facts.sizeBytes;
        disk.generation = Math.max(disk.generation, cloud?.generation ?? 1);
        if (!known || resized) await state.saveDisks([...disks.filter((d) => d !== known), disk]);
        print(
          `Disk ${disk.id} (${facts.path}, ${facts.sizeBytes} bytes, ${facts.sectorSize}-byte sectors) ${resized ? `resized: resyncing as generation ${disk.generation}` : known ? 'was already added' : 'added'}.`,
          disk,
        );
        return 0;
      }
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
      case 'bookmark': {
        const consistency = a.flags.app ? 'app' : 'crash';
        const id = newBookmarkId(str(a, 'tag'));
        if (await state.runningPid()) {
          // The running agent owns the disks and the spool: hand it the request.
          await fsp.mkdir(state.requestsDir, { recursive: true, mode: 0o700 });
          const req: BookmarkRequestFile = { id, consistency };
          await writeFileAtomic(path.join(state.requestsDir, `${id}.json`), JSON.stringify(req));
          const until = Date.now() + 10 * 60_000;
          const done = path.join(state.requestsDir, `${id}.done`);
          while (!(await readJson(done))) {
            if (Date.now() > until) {
              throw new HavenError(
                'transient',
                `The running agent did not cut bookmark ${id} within 10 minutes.`,
              );
            }
            await sleep(250);
          }
          await fsp.rm(done, { force: true });
          print(id, { bookmarkId: id, consistency });
          return 0;
        }
        const ac = signalController();
        await followGenerationsOf(state, log);
        const agent = await Agent.open(state.dir, {
          log,
          sink: sinkFor(),
        });
        try {
          await agent.cut(consistency, id, ac.signal);
          const sending = agent.sender.run(ac.signal);
          await agent.sender.drained(ac.signal);
          ac.abort();
          await sending;
          print(id, { bookmarkId: id, consistency });
          return 0;
        } finally {
          await agent.close();
        }
      }
      case 'status': {
        const id = await state.identity();
        const s = await readJson<AgentStatus>(state.statusFile);
        const running = !!(await state.runningPid());
        if (!s) {
          print(`Machine ${id.machineId}: never ran.`, {
            machineId: id.machineId,
            running,
            disks: await state.disks(),
          });
          return 0;
        }
        s.running = running;
        // The cloud's view: the newest recovery point says how far each disk has hydrated.
        try {
          const api = new ControlPlaneClient(id.api, id.credential);
          const p = await api.latestPoint(id.machineId);
          const log = (await readJson<BookmarkLogEntry[]>(state.bookmarksFile)) ?? [];
          const b = p && log.find((x) => x.id === p.id);
          if (p) {
            s.lastPoint = { id: p.id, ...(p.time ? { time: p.time } : {}) };
            const t = Date.parse(p.time ?? b?.cutAt ?? '');
            if (!Number.isNaN(t)) s.rpoSeconds = Math.max(0, (Date.now() - t) / 1000);
          }
          for (const d of s.disks) {
            const seq = b?.seqs[`${d.id}/${d.generation}`];
            if (seq !== undefined) d.lastHydratedSeq = seq;
          }
          s.rpoSource = p ? 'cloud' : 'agent';
        } catch {
          s.rpoSource = 'agent';
        }
        if (!json) {
          const lines = [
            `Machine ${s.machineId}: ${running ? 'running' : 'stopped'}; spool ${(s.spoolBytes / 2 ** 20).toFixed(1)} MiB; RPO ${s.rpoSeconds !== undefined ? s.rpoSeconds.toFixed(0) + ' s' : 'unknown'}${s.lastError ? `; last error: ${s.lastError}` : ''}`,
          ];
          for (const d of s.disks) {
            lines.push(
              `  ${d.id} ${d.state} gen ${d.generation}: pending ${(d.spoolPendingBytes / 2 ** 20).toFixed(1)} MiB, spooled seq ${d.lastSpooledSeq}, acked seq ${d.lastAckedSeq}, hydrated seq ${d.lastHydratedSeq ?? 'unknown'}`,
            );
          }
          process.stdout.write(lines.join('\n') + '\n');
        } else print('', s);
        return 0;
      }
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
