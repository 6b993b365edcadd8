import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { peekHeader } from '../../core/batch';
import { Agent } from '../../edge-agent/agent';
import { CaptureSink } from '../../edge-agent/captureSink';
import { debugfsWrite, makeExt4Image } from '../../local/images/ext4';
import { waitFor } from '../support/waitFor';
import { spoolFaults } from './support/faultySpoolSegments';
import { listCaptured, replayDisk } from './support/replay';
import { enrollWithDisk } from './support/runAgent';
import { mixedData } from './support/testData';
import { useFakeControlPlane } from './support/useFakeControlPlane';

vi.mock('../../edge-agent/spoolSegments', async (importOriginal) => {
  const { withFaultySegments } = await import('./support/faultySpoolSegments.js');
  return withFaultySegments(await importOriginal());
});

/** Bookmarks captured so far, with the time each was cut. */
function capturedBookmarks(capture: string): { id: string; createdAt: number }[] {
  const out: { id: string; createdAt: number }[] = [];
  for (const c of listCaptured(capture)) {
    const b = peekHeader(readFileSync(c.file)).bookmark;
    if (b) out.push({ id: b.id, createdAt: Date.parse(b.createdAt) });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

describe('a replication loop whose spool write failed', { timeout: 300_000 }, () => {
  const env = useFakeControlPlane('loop-restart', { pointLag: 0 });

  it('restarts in the same process and still delivers the exact image', async () => {
    const { dir, cp, capture } = env;
    const image = path.join(dir, 'disk.img');
    const state = path.join(dir, 'state');
    const size = 64 * 2 ** 20;
    makeExt4Image(image, size, { fill: 0 });
    debugfsWrite(image, 'first.bin', mixedData(4 * 2 ** 20));
    const diskId = await enrollWithDisk(cp, image, ['--state-dir', state]);
    const logs: { msg: string; at: number }[] = [];
    const agent = await Agent.open(state, {
      log: (msg) => void logs.push({ msg, at: Date.now() }),
      sink: () => new CaptureSink(capture),
      intervalMs: 500,
    });
    const ac = new AbortController();
    const running = agent.runForever(ac.signal, 1000);
    try {
      await waitFor('the first bookmark', () => capturedBookmarks(capture).length > 0, {
        timeoutMs: 120_000,
      });
      // The next spool write fails half-way, as on a full disk, while new data is on its way.
      Object.assign(spoolFaults, { writes: 1, partial: 0.5, failed: 0 });
      debugfsWrite(image, 'second.bin', mixedData(8 * 2 ** 20));
      await waitFor('the loop to fail', () => logs.some((l) => /loop failed/.test(l.msg)), {
        timeoutMs: 120_000,
      });
      expect(spoolFaults.failed).toBe(1);
      const failedAt = logs.find((l) => /loop failed/.test(l.msg))!.at;
      // A pass that began after the restart sees every change: its bookmark must be complete.
      await waitFor(
        'a bookmark cut after the restart',
        () => capturedBookmarks(capture).some((b) => b.createdAt > failedAt),
        { timeoutMs: 120_000 },
      );
    } finally {
      ac.abort();
      await running;
      await agent.close();
    }
    expect(logs.filter((l) => /loop failed/.test(l.msg))).toHaveLength(1);
    const last = capturedBookmarks(capture).at(-1)!;
    const rep = await replayDisk(capture, diskId, size, cp.dataKey, last.id);
    expect(rep.conflicts).toEqual([]);
    expect(rep.bookmarks.at(-1)?.id).toBe(last.id);
    expect(rep.image.equals(readFileSync(image))).toBe(true);
  });
});
