import type { AgentStatus, BookmarkLogEntry } from './agentTypes';
import type { CliContext } from './cliContext';
import { ControlPlaneClient } from './controlPlaneClient';
import { readJson } from './fsUtil';

/** `haven-agent status`: the agent's own status file, with RPO and hydration from the cloud's newest point. */
export async function statusCommand({ json, state, print }: CliContext): Promise<number> {
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
        `  ${d.id} ${d.state} gen ${d.generation}: pending ${(d.spoolPendingBytes / 2 ** 20).toFixed(1)} MiB, spooled seq ${d.lastSpooledSeq}, acked seq ${d.lastAckedSeq}, stored seq ${d.lastStoredSeq}, hydrated seq ${d.lastHydratedSeq ?? 'unknown'}`,
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
  } else print('', s);
  return 0;
}
