import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { transient } from '../../core/errors';
import { AgentState } from '../../edge-agent/agentState';
import type { CloudDisk, ControlPlaneClient } from '../../edge-agent/controlPlaneClient';
import { followGenerations, indexFileOf } from '../../edge-agent/generations';
import { Spool } from '../../edge-agent/spool';

const MiB = 2 ** 20;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An enrolled state dir with disk `d1` in `generation`. */
async function agentState(generation = 1): Promise<AgentState> {
  const dir = mkdtempSync(path.join(tmpdir(), 'haven-gen-'));
  dirs.push(dir);
  const state = new AgentState(dir);
  await state.saveIdentity({
    api: 'http://127.0.0.1:1',
    machineId: 'm-1',
    credential: 'hvm.m-1.x',
    keyId: 'k',
    dataKey: Buffer.alloc(32).toString('base64'),
    name: 'n',
    enrolledAt: new Date().toISOString(),
  });
  await state.saveDisks([
    { id: 'd1', path: '/dev/null', sizeBytes: 8 * MiB, sectorSize: 512, generation },
  ]);
  mkdirSync(state.indexDir, { recursive: true });
  return state;
}

/** Spools `n` batches of (d1, generation); `checkpointed` of them covered by a source checkpoint. */
async function spoolBatches(state: AgentState, generation: number, n: number, checkpointed = 0) {
  const spool = await Spool.open(state.spoolDir, { maxBytes: 64 * MiB });
  for (let seq = 1; seq <= n; seq++)
    await spool.append({ diskId: 'd1', generation, seq }, Buffer.alloc(1000, seq));
  if (checkpointed) await spool.setCheckpoint({ [`d1/${generation}`]: checkpointed });
  await spool.close();
}

/** A control plane that knows d1 in `generation`; a resync request moves it to the next. */
function cloud(generation: number, appliedSeq = 0) {
  const calls: string[] = [];
  let gen = generation;
  const disk = (): CloudDisk => ({
    id: 'd1',
    sizeBytes: 8 * MiB,
    logicalSectorSize: 512,
    generation: gen,
    appliedSeq: gen === generation ? appliedSeq : 0,
  });
  const api = {
    listDisks: async () => (calls.push('list'), [disk()]),
    requestResync: async (_m: string, _d: string, reason: string) => {
      calls.push(`resync: ${reason}`);
      gen++;
      return disk();
    },
  } as unknown as ControlPlaneClient;
  return { api, calls };
}

const log = () => undefined;
const pending = async (state: AgentState) => {
  const s = await Spool.open(state.spoolDir, { maxBytes: 64 * MiB });
  const p = s.pending().map((e) => `${e.generation}/${e.seq}`);
  const next = s.nextSeq({ diskId: 'd1', generation: 2 });
  await s.close();
  return { pending: p, nextSeqG2: next };
};

describe('agent follows disk generations', () => {
  it('switches to the generation the control plane names: older unsent batches dropped, old index removed, seq 1', async () => {
    const state = await agentState(1);
    await spoolBatches(state, 1, 3, 3);
    writeFileSync(indexFileOf(state.indexDir, 'd1', 1), 'old index');
    const { api } = cloud(2);
    const changes = await followGenerations(state, api, log, 64 * MiB);
    expect(changes).toEqual([{ diskId: 'd1', from: 1, to: 2, dropped: 3, requested: false }]);
    expect((await state.disks())[0]!.generation).toBe(2);
    expect(existsSync(indexFileOf(state.indexDir, 'd1', 1))).toBe(false);
    expect(await pending(state)).toEqual({ pending: [], nextSeqG2: 1 });
  });

  it('lost index of a checkpointed generation: asks for a resync and switches to it', async () => {
    const state = await agentState(1);
    await spoolBatches(state, 1, 4, 2); // seq 3-4 not yet acknowledged
    const { api, calls } = cloud(1, 2);
    const changes = await followGenerations(state, api, log, 64 * MiB);
    expect(calls).toEqual(['list', 'resync: haven-agent lost the change index of generation 1']);
    expect(changes).toEqual([{ diskId: 'd1', from: 1, to: 2, dropped: 4, requested: true }]);
    expect(await pending(state)).toEqual({ pending: [], nextSeqG2: 1 });
  });

  it('a whole lost state (no spool) while the cloud holds data of the generation also resyncs', async () => {
    const state = await agentState(1);
    const { api, calls } = cloud(1, 9);
    const changes = await followGenerations(state, api, log, 64 * MiB);
    expect(calls).toHaveLength(2);
    expect(changes[0]).toMatchObject({ to: 2, requested: true });
  });

  it('no resync for a fresh generation, an intact index, or a crash before the first checkpoint', async () => {
    const fresh = await agentState(1);
    expect(await followGenerations(fresh, cloud(1).api, log, 64 * MiB)).toEqual([]);

    const intact = await agentState(1);
    await spoolBatches(intact, 1, 2, 2);
    writeFileSync(indexFileOf(intact.indexDir, 'd1', 1), 'index');
    const c = cloud(1, 2);
    expect(await followGenerations(intact, c.api, log, 64 * MiB)).toEqual([]);
    expect(c.calls).toEqual(['list']);

    // Spooled but never checkpointed: the spool replays those ranges into the source itself.
    const early = await agentState(1);
    await spoolBatches(early, 1, 2, 0);
    expect(await followGenerations(early, cloud(1, 0).api, log, 64 * MiB)).toEqual([]);
  });

  it('offline: keeps its generation', async () => {
    const state = await agentState(1);
    const api = {
      listDisks: async () => {
        throw transient('unreachable');
      },
    } as unknown as ControlPlaneClient;
    expect(await followGenerations(state, api, log, 64 * MiB)).toEqual([]);
    expect((await state.disks())[0]!.generation).toBe(1);
  });
});
