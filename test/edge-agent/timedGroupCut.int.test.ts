import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../edge-agent/agent';
import type { BookmarkRequest, ChangeRecord, ChangeSource } from '../../edge-agent/changeSource';
import { CaptureSink } from '../../edge-agent/captureSink';
import { enrollWithDisk } from './support/runAgent';
import { useFakeControlPlane } from './support/useFakeControlPlane';
import { waitFor } from '../support/waitFor';

/** A change source that only records when the agent holds writes and cuts. */
class RecordingSource implements ChangeSource {
  events: Array<{ what: 'hold' | 'cut' | 'release'; at: number; id?: string }> = [];
  async *changes(signal: AbortSignal): AsyncGenerator<ChangeRecord> {
    yield { kind: 'idle', pos: 1 };
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  }
  holdWrites(): () => void {
    this.events.push({ what: 'hold', at: Date.now() });
    return () => this.events.push({ what: 'release', at: Date.now() });
  }
  async requestBookmark(req: BookmarkRequest): Promise<void> {
    this.events.push({ what: 'cut', at: Date.now(), id: req.id });
  }
  committed(): void {}
  invalidate(): void {}
  async checkpoint(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('timed consistency-group cut in the agent', () => {
  const env = useFakeControlPlane('timed-cut');

  it("cuts at cutAt on the control plane's clock, holding writes from that moment for holdMs", async () => {
    const state = path.join(env.dir, 'state');
    const image = path.join(env.dir, 'disk.img');
    writeFileSync(image, Buffer.alloc(1024 * 1024));
    await enrollWithDisk(env.cp, image, ['--state-dir', state]);
    writeFileSync(path.join(state, 'settings.json'), JSON.stringify({ groupPollSeconds: 0.2 }));
    // The control plane's clock runs 7 s ahead: its cutAt is 2.5 s from now on ours. The poll
    // that brings the cut is slow (±200 ms): the agent samples again before relying on it.
    env.cp.clockAheadMs = 7000;
    env.cp.slowGroupPolls = 1;
    const localCutAt = Date.now() + 2500;
    env.cp.groupCuts = [
      {
        id: 'gb-timed-1',
        groupId: 'erp',
        consistency: 'crash',
        createdAt: new Date().toISOString(),
        cutAt: new Date(localCutAt + 7000).toISOString(),
        holdMs: 100,
      },
    ];
    const source = new RecordingSource();
    const agent = await Agent.open(state, {
      log: () => {},
      source: async () => source,
      sink: () => new CaptureSink(env.capture),
    });
    const ac = new AbortController();
    const running = agent.runForever(ac.signal, 3600_000);
    try {
      await waitFor('the hold released', () => source.events.some((e) => e.what === 'release'), {
        timeoutMs: 30_000,
      });
    } finally {
      ac.abort();
      await running;
      await agent.close();
    }
    const [hold, cut, release] = source.events;
    expect(source.events.map((e) => e.what)).toEqual(['hold', 'cut', 'release']);
    expect(cut!.id).toBe('gb-timed-1');
    // Never early (the fake's clock is read within the poll's round trip: a few ms here).
    expect(hold!.at).toBeGreaterThanOrEqual(localCutAt - 20);
    expect(cut!.at - hold!.at).toBeLessThanOrEqual(1); // the same turn: no write falls between
    expect(release!.at - cut!.at).toBeGreaterThanOrEqual(99);
  });
});
