import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AnonymousCredential, BlockBlobClient } from '@azure/storage-blob';
import { peekHeader } from '../../../core/batch';
import type { AgentIdentity } from '../../../edge-agent/agentState';
import { ControlPlaneClient, type RecoveryPoint } from '../../../edge-agent/controlPlaneClient';
import type { Outbound } from '../../../edge-agent/batchSink';
import { EventHubsSink, claimUploadUrl } from '../../../edge-agent/eventHubsSink';
import type { SpoolEntry } from '../../../edge-agent/spool';
import { waitFor } from '../../support/waitFor';
import { agentOn, type Machine } from './machine';

export interface Captured {
  seq: number;
  envelope: Buffer;
}

/**
 * `run --once --capture DIR`: the agent seals and spools its batches as usual but its sink
 * writes them to DIR (`<disk>.<gen>.<seq>.<sha256>.hvb`) instead of Event Hubs. Its wait for
 * the point then times out (nothing was delivered): that exit is expected.
 */
export async function captureRun(m: Machine, dir: string): Promise<Captured[]> {
  const r = await agentOn(m, ['run', '--once', '--capture', dir, '--timeout', '1']).done;
  const files = (await fsp.readdir(dir).catch(() => [])).filter((f) => f.endsWith('.hvb'));
  if (files.length === 0) throw new Error(`capture run wrote nothing: ${r.stderr.slice(-2000)}`);
  return files
    .map((f) => ({ seq: Number(f.split('.')[2]), envelope: readFileSync(path.join(dir, f)) }))
    .sort((a, b) => a.seq - b.seq);
}

/** The bookmark a captured run ends with (its last batch carries it). */
export const bookmarkOf = (batches: Captured[]): string =>
  peekHeader(batches[batches.length - 1]!.envelope).bookmark!.id;

/** The agent's own machine client (its credential from the state dir). */
export function machineClient(m: Machine): ControlPlaneClient {
  const id = JSON.parse(readFileSync(path.join(m.stateDir, 'agent.json'), 'utf8')) as AgentIdentity;
  return new ControlPlaneClient(id.api, id.credential);
}

/**
 * Publishes envelopes to Event Hubs as the agent would (the real SDK, partition key = machine,
 * claim checks above the inline limit, the SAS the control plane issues), in the given order,
 * in groups of 1–4 events per Event Hubs batch.
 */
export async function publish(m: Machine, envelopes: Buffer[]): Promise<void> {
  const api = machineClient(m);
  const sink = new EventHubsSink(m.machineId, () => api.ingestToken(m.machineId));
  try {
    for (let i = 0; i < envelopes.length;) {
      const n = 1 + Math.floor(Math.random() * 4);
      const items: Outbound[] = envelopes
        .slice(i, i + n)
        .map((envelope) => ({ entry: {} as SpoolEntry, envelope }));
      await sink.send(items);
      i += n;
    }
  } finally {
    await sink.close();
  }
}

/**
 * What the agent's sink does for a large batch before it sends its event: the claim-check
 * upload, with the machine's own SAS. Alone, it is a batch whose event was lost.
 */
export async function uploadClaimOnly(m: Machine, envelope: Buffer): Promise<void> {
  const creds = await machineClient(m).ingestToken(m.machineId);
  const url = claimUploadUrl(creds.blob, peekHeader(envelope));
  await new BlockBlobClient(url, new AnonymousCredential()).uploadData(envelope);
}

/** The machine's recovery point `pointId`, once it is published. */
export async function waitForPoint(
  m: Machine,
  pointId: string,
  timeoutMs = 120_000,
  signal?: AbortSignal,
): Promise<RecoveryPoint> {
  const api = machineClient(m);
  return waitFor(
    `point ${pointId} of ${m.machineId}`,
    () => api.recoveryPoint(m.machineId, pointId),
    {
      timeoutMs,
      intervalMs: 100,
      signal,
    },
  );
}

/** Every batch 2–3 times, all of it shuffled. */
export function duplicatedShuffled<T>(items: T[]): T[] {
  const out = items.flatMap((x) => (Math.random() < 0.3 ? [x, x, x] : [x, x]));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
