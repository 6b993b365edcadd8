import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../../core/replication/readAhead';

interface Item {
  seq: number;
  bytes: number | undefined;
}

/** Reads that finish when the test says so; `staged` seqs hold `size` bytes, others nothing. */
function reads(staged: (seq: number) => boolean, size = 10) {
  const started: number[] = [];
  const pending = new Map<number, { ok: () => void; fail: (e: Error) => void }>();
  const read = (seq: number) => {
    started.push(seq);
    return new Promise<Item>((resolve, reject) => {
      pending.set(seq, {
        ok: () => resolve({ seq, bytes: staged(seq) ? size : undefined }),
        fail: reject,
      });
    });
  };
  const settle = async (seq: number, e?: Error) => {
    const p = pending.get(seq)!;
    pending.delete(seq);
    if (e) p.fail(e);
    else p.ok();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { read, started, settle, pending };
}

describe('ReadAhead', () => {
  it('reads the following seqs in order, as many at once as allowed', async () => {
    const r = reads(() => true);
    const ahead = new ReadAhead(4, r.read, { inFlight: 3, bytes: 1000, firstGuess: 10 });
    const first = ahead.take(5);
    expect(r.started).toEqual([5, 6, 7]);
    await r.settle(5);
    expect((await first).seq).toBe(5);
    // One finished, one more started: the window moves with the reads, not with the consumer.
    expect(r.started).toEqual([5, 6, 7, 8]);
    await r.settle(6);
    await r.settle(7);
    expect(r.started).toEqual([5, 6, 7, 8, 9, 10]);
    // What was read ahead is handed out, not read again.
    const sixth = ahead.take(6);
    expect((await sixth).seq).toBe(6);
    expect(r.started.filter((s) => s === 6)).toHaveLength(1);
  });

  it('holds at most `bytes` ahead of the consumer, counting reads in flight at the last size', async () => {
    const r = reads(() => true, 30);
    const ahead = new ReadAhead(0, r.read, { inFlight: 8, bytes: 100, firstGuess: 50 });
    void ahead.take(1);
    // A first guess of 50 bytes: two in flight fit in 100.
    expect(r.started).toEqual([1, 2]);
    await r.settle(1);
    await r.settle(2);
    // Seq 2 (30 bytes) is held; at 30 bytes a read, two more fit beside it.
    expect(r.started).toEqual([1, 2, 3, 4]);
    await r.settle(3);
    await r.settle(4);
    // 90 bytes held ahead: nothing more until the consumer takes some.
    expect(r.started).toEqual([1, 2, 3, 4]);
    await ahead.take(2);
    await ahead.take(3);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(r.started).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads nothing past the first seq with nothing staged', async () => {
    const r = reads((seq) => seq < 3);
    const ahead = new ReadAhead(0, r.read, { inFlight: 2, bytes: 1000, firstGuess: 10 });
    void ahead.take(1);
    expect(r.started).toEqual([1, 2]);
    await r.settle(1);
    expect(r.started).toEqual([1, 2, 3]);
    await r.settle(3); // the end of what is staged
    await r.settle(2);
    expect(r.started).toEqual([1, 2, 3]);
    expect(r.pending.size).toBe(0);
    expect((await ahead.take(3)).bytes).toBeUndefined();
  });

  it('reads ahead again once the seq found missing is asked for again and is staged by then', async () => {
    let stagedUpTo = 2;
    const r = reads((seq) => seq <= stagedUpTo);
    const ahead = new ReadAhead(0, r.read, { inFlight: 3, bytes: 1000, firstGuess: 10 });
    void ahead.take(1);
    for (const seq of [1, 2, 3, 4]) await r.settle(seq); // 3 and 4: nothing staged yet; 5 in flight
    expect((await ahead.take(3)).bytes).toBeUndefined(); // the end, for now
    stagedUpTo = 10;
    const again = ahead.take(3);
    // 3 and 4 (found missing before) are read again, not reused; 5, still in flight, is kept.
    expect(r.started).toEqual([1, 2, 3, 4, 5, 3, 4]);
    await r.settle(3);
    expect((await again).bytes).toBe(10);
    const fourth = ahead.take(4);
    await r.settle(4);
    expect((await fourth).bytes).toBe(10);
  });

  it('stops at a failed read and hands its error to the consumer', async () => {
    const r = reads(() => true);
    const ahead = new ReadAhead(0, r.read, { inFlight: 1, bytes: 1000, firstGuess: 10 });
    void ahead.take(1);
    await r.settle(1);
    expect(r.started).toEqual([1, 2]);
    await r.settle(2, new Error('throttled'));
    expect(r.started).toEqual([1, 2]);
    await expect(ahead.take(2)).rejects.toThrow('throttled');
  });

  it('peek reads a seq without taking it: take hands out the same read', async () => {
    const r = reads(() => true);
    const ahead = new ReadAhead(0, r.read, { inFlight: 1, bytes: 1000, firstGuess: 10 });
    const peeked = ahead.peek(1);
    await r.settle(1);
    expect(await ahead.take(1)).toBe(await peeked);
    expect(r.started.filter((s) => s === 1)).toHaveLength(1);
  });
});
