import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchSink, Outbound } from '../../edge-agent/batchSink';
import { Sender } from '../../edge-agent/sender';
import { Spool } from '../../edge-agent/spool';
import { tempDir } from './support/testData';

/** A sink whose first send never settles (a stalled connection), later ones succeed. */
class StallOnceSink implements BatchSink {
  sends = 0;
  closes = 0;
  delivered: number[] = [];
  send(items: readonly Outbound[]): Promise<void> {
    if (++this.sends === 1) return new Promise<void>(() => undefined);
    this.delivered.push(...items.map((i) => i.entry.seq));
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closes++;
    return Promise.resolve();
  }
}

describe('Sender: a send that never settles', () => {
  const ac = new AbortController();
  afterEach(() => ac.abort());
  it('is given up after its budget, the sink closed, and sent again', async () => {
    const spool = await Spool.open(await tempDir('sender-budget'), { maxBytes: 64 * 2 ** 20 });
    const k = { diskId: 'd1', generation: 1 };
    await spool.append({ ...k, seq: 1 }, randomBytes(1000));
    await spool.append({ ...k, seq: 2 }, randomBytes(1000));
    const sink = new StallOnceSink();
    const errors: string[] = [];
    const sender = new Sender(
      spool,
      sink,
      { onError: (e) => errors.push((e as Error).message) },
      32 * 2 ** 20,
      () => 50,
    );
    const running = sender.run(ac.signal);
    await sender.drained();
    ac.abort();
    await running;
    expect(sink.sends).toBe(2);
    expect(sink.closes).toBeGreaterThanOrEqual(1);
    expect(sink.delivered).toEqual([1, 2]);
    expect(errors).toEqual(['send not acknowledged within 0 s; retrying']);
    expect(spool.pending()).toEqual([]);
  });
});
