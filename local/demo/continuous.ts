import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debugfsWrite } from '../images/ext4';
import { requireTool } from '../setup/requireTool';
import { controlRequest } from '../../edge-agent/nbd/controlClient';

const execFileP = promisify(execFile);
const BLOCK = 4096;

export interface ContinuousDemo {
  work: string;
  /** The protected image; its replica is already up to date (a point was just cut). */
  disk: string;
  diskId: string;
  machineId: string;
  agentBin: string;
  agentDir: string;
  apiUrl: string;
  adminKey: string;
}

/**
 * Continuous replication as a server would run it: `haven-agent serve-disk` serves the disk over
 * NBD through the write splitter, a filesystem change is written through it by a real NBD
 * client (qemu-io), a bookmark is cut between two writes, and the cloud publishes its point.
 * Returns the point and how long after the last acknowledged write it was published.
 */
export async function replicateThroughSplitter(d: ContinuousDemo): Promise<{
  point: string;
  secondsAfterAck: number;
  bytes: number;
  group: { point: string; barrier: boolean; members: number };
}> {
  // The change: files written into a copy with debugfs, then exactly its differing blocks
  // written through NBD, so the filesystem on the disk stays valid.
  const changed = join(d.work, 'changed.img');
  copyFileSync(d.disk, changed);
  for (let i = 0; i < 3; i++)
    debugfsWrite(changed, `/live-${i}.bin`, randomBytes(384 * 1024 * (i + 1)));
  const runs = differingRuns(d.disk, changed);

  const sock = join(d.work, 'nbd.sock');
  const ctl = join(d.work, 'control.sock');
  const server = spawn(
    process.execPath,
    [
      d.agentBin,
      'serve-disk',
      d.disk,
      '--socket',
      sock,
      '--control',
      ctl,
      '--interval',
      '1',
    ].concat(['--no-initial-sync', '--state-dir', d.agentDir]),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  server.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      server.once('exit', (code) => reject(new Error(`serve-disk exited ${code}: ${stderr}`)));
    });
    const commands: string[] = [];
    let bytes = 0;
    for (const [i, [offset, length]] of runs.entries()) {
      const file = join(d.work, `run-${i}.bin`);
      writeFileSync(file, readRange(changed, offset, length));
      commands.push('-c', `write -q -s ${file} ${offset} ${length}`);
      bytes += length;
    }
    await execFileP(requireTool('qemu-io', 'qemu-utils', 'to write through the NBD server'), [
      '-f',
      'raw',
      `nbd+unix:///${d.diskId}?socket=${sock}`,
      ...commands,
    ]);
    const acked = Date.now();
    const point = `live-${acked}`;
    const reply = await controlRequest(ctl, { op: 'bookmark', id: point });
    if (reply.ok !== true) throw new Error(`bookmark refused: ${String(reply.error)}`);
    await waitForPoint(d, point);
    const secondsAfterAck = (Date.now() - acked) / 1000;
    const group = await timedGroupCut(d);
    if (!group.barrier) {
      const why = stderr.split('\n').filter((l) => l.includes('group cut'));
      throw new Error(`group point ${group.point} is not a barrier: ${why.join('\n')}`);
    }
    return { point, secondsAfterAck, bytes, group };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode === null ? server.once('exit', r) : r(null)));
  }
}

/** [offset, length] runs of 4 KiB blocks where two images differ. */
function differingRuns(a: string, b: string): [number, number][] {
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  const ba = Buffer.alloc(4 * 1024 * 1024);
  const bb = Buffer.alloc(ba.length);
  const runs: [number, number][] = [];
  try {
    for (let off = 0; ; off += ba.length) {
      const n = readSync(fa, ba, 0, ba.length, off);
      readSync(fb, bb, 0, bb.length, off);
      if (n === 0) break;
      for (let o = 0; o < n; o += BLOCK) {
        if (ba.subarray(o, o + BLOCK).equals(bb.subarray(o, o + BLOCK))) continue;
        const last = runs[runs.length - 1];
        if (last && last[0] + last[1] === off + o) last[1] += BLOCK;
        else runs.push([off + o, BLOCK]);
      }
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
  return runs;
}

function readRange(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * A consistency group with this machine and a timed cut (docs/consistencyGroups.md): the agent
 * inserts it at the control plane's `cutAt` and holds writes 100 ms after it; the group point
 * says whether every member did (`barrier`).
 */
async function timedGroupCut(
  d: ContinuousDemo,
): Promise<{ point: string; barrier: boolean; members: number }> {
  const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${d.apiUrl}/${route}`, {
      method,
      headers: { 'x-functions-key': d.adminKey, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  await api('POST', 'consistency-groups', { name: 'demo-app', members: [d.machineId] });
  // Longer than two of the agent's group polls (5 s): it learns of the cut before its moment.
  const cut = await api<{ id: string }>('POST', 'consistency-groups/demo-app/bookmarks', {
    leadSeconds: 12,
  });
  const until = Date.now() + 120_000;
  for (;;) {
    const p = await api<{ state: string; barrier: boolean; members: string[] }>(
      'GET',
      `consistency-groups/demo-app/recovery-points/${cut.id}`,
    );
    if (p.state === 'complete')
      return { point: cut.id, barrier: p.barrier, members: p.members.length };
    if (Date.now() > until) throw new Error(`group point ${cut.id} still ${p.state} after 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForPoint(d: ContinuousDemo, point: string): Promise<void> {
  const url = `${d.apiUrl}/machines/${d.machineId}/recovery-points/${point}`;
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    const res = await fetch(url, { headers: { 'x-functions-key': d.adminKey } });
    if (res.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`recovery point ${point} was not published within 120 s`);
}
