import { describe, expect, it } from 'vitest';
import { ASYNC_WRITE_BYTES, ImageWriteQueue } from '../../../edge-agent/nbd/imageWriteQueue';
import { ImageWrites } from '../../../edge-agent/nbd/imageWrites';
import { NO_PINS, REDO_RECORDS } from '../../../edge-agent/journal/journalTypes';

/**
 * An image in memory whose thread-pool writes complete only when the test says so: what the
 * queue does while writes are in flight, without racing real I/O.
 */
function heldImage(size: number) {
  const bytes = Buffer.alloc(size);
  const held: Array<{ offset: number; bufs: Buffer[]; done: (e?: Error) => void }> = [];
  const inflight = new ImageWrites(
    (offset, bufs) =>
      new Promise<void>((resolve, reject) =>
        held.push({
          offset,
          bufs,
          done: (e) => {
            if (e) return reject(e);
            Buffer.concat(bufs).copy(bytes, offset);
            resolve();
          },
        }),
      ),
  );
  const image = {
    inflight,
    write: (offset: number, data: Buffer) => void data.copy(bytes, offset),
    writev: (offset: number, bufs: Buffer[]) => void Buffer.concat(bufs).copy(bytes, offset),
  };
  const journal: string[] = [];
  /** Payloads held by writes in flight (their memory may not be reused meanwhile). */
  const pinned = new Set<Buffer>();
  const pins = {
    pin: (b: Uint8Array) => {
      pinned.add(b as Buffer);
      return () => pinned.delete(b as Buffer);
    },
  };
  const queue = new ImageWriteQueue(
    image,
    {
      flushBatch: () => journal.push('flush'),
      holding: false,
      whenWritten: () => undefined,
      ahead: () => false,
      pins,
    },
    0,
  );
  /** Completes the oldest held write (as the thread pool would), then lets callbacks run. */
  const complete = async (e?: Error) => {
    held.shift()!.done(e);
    await new Promise((r) => setImmediate(r));
  };
  return { bytes, held, queue, journal, complete, pinned };
}

const big = (fill: number) => Buffer.alloc(ASYNC_WRITE_BYTES, fill);
const small = (fill: number) => Buffer.alloc(4096, fill);

describe('image write queue (writes off the event loop, journal order kept)', () => {
  it('small writes are written in the turn, large ones through the pool and answered when done', async () => {
    const { bytes, held, queue, complete } = heldImage(1 << 20);
    expect(queue.write(0, small(1), false, 0)).toBeUndefined();
    expect(bytes[0]).toBe(1);
    const done = queue.write(ASYNC_WRITE_BYTES, big(2), false, 0);
    expect(done).toBeInstanceOf(Promise);
    expect(held).toHaveLength(1);
    expect(bytes[ASYNC_WRITE_BYTES]).toBe(0); // not yet
    await complete();
    await done;
    expect(bytes[ASYNC_WRITE_BYTES]).toBe(2);
  });

  it('a small write overlapping a large one in flight lands after it (record order), not before', async () => {
    const { bytes, held, queue, complete } = heldImage(1 << 20);
    const first = queue.write(0, big(0xaa), false, 0);
    const second = queue.write(4096, small(0xbb), false, 0);
    // Written now, it would be overwritten when the large one completes.
    expect(second).toBeInstanceOf(Promise);
    expect(bytes[4096]).toBe(0);
    await complete();
    await first;
    expect(held).toHaveLength(1); // issued only once the first was done
    await complete();
    await second;
    expect(bytes[4096]).toBe(0xbb);
    expect(bytes[0]).toBe(0xaa);
  });

  it('corked: the journal batch is written before any image write; adjacent writes are joined', async () => {
    const { bytes, held, queue, journal, complete } = heldImage(1 << 20);
    const a = queue.write(0, big(3), true, 0);
    const b = queue.write(ASYNC_WRITE_BYTES, big(4), true, 0);
    expect(queue.write(4 * ASYNC_WRITE_BYTES, small(5), true, 0)).toBeUndefined();
    expect(held).toHaveLength(0);
    expect(bytes[4 * ASYNC_WRITE_BYTES]).toBe(0); // queued until the batch is flushed
    queue.flush();
    expect(journal).toEqual(['flush']);
    expect(bytes[4 * ASYNC_WRITE_BYTES]).toBe(5);
    expect(held).toHaveLength(1); // one pwritev for the two adjacent large writes
    expect(held[0]!.bufs).toHaveLength(2);
    await complete();
    await Promise.all([a, b]);
    expect(bytes[ASYNC_WRITE_BYTES]).toBe(4);
  });

  it('a write in flight holds its payloads until it is over, a failed one too', async () => {
    const { queue, complete, pinned } = heldImage(1 << 20);
    const a = big(1);
    const b = big(2);
    const first = queue.write(0, a, false, 0);
    const second = queue.write(ASYNC_WRITE_BYTES, b, false, 0);
    expect([...pinned]).toEqual([a, b]);
    await complete(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    expect([...pinned]).toEqual([b]);
    await complete();
    await second;
    expect(pinned.size).toBe(0);
  });

  it('a failed journal batch fails the queued writes instead of leaving them unanswered', async () => {
    const image = heldImage(1 << 20);
    const queue = new ImageWriteQueue(
      { inflight: new ImageWrites(() => Promise.resolve()), write: () => {}, writev: () => {} },
      {
        flushBatch: () => {
          throw new Error('EIO on the journal');
        },
        holding: false,
        whenWritten: () => undefined,
        ahead: () => false,
        pins: NO_PINS,
      },
      0,
    );
    const w = queue.write(0, big(1), true, 0);
    expect(() => queue.flush()).toThrow('EIO on the journal');
    await expect(w).rejects.toThrow('EIO on the journal');
    expect(image.held).toHaveLength(0);
  });

  it('a failed image write fails its request; later writes of the range still go out', async () => {
    const { bytes, queue, complete } = heldImage(1 << 20);
    const first = queue.write(0, big(1), false, 0);
    const second = queue.write(0, big(2), false, 0);
    await complete(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await complete();
    await second;
    expect(bytes[0]).toBe(2);
  });

  it('every unfinished write stays among the last REDO_RECORDS records (what a process-crash redo re-applies)', async () => {
    const { held, queue, complete } = heldImage((REDO_RECORDS + 1) * ASYNC_WRITE_BYTES);
    for (let i = 0; i < REDO_RECORDS; i++) {
      expect(queue.redoBound()).toBeUndefined();
      void queue.write(i * ASYNC_WRITE_BYTES, big(i), false, 0);
    }
    // REDO_RECORDS in flight: the next record would push the oldest out of the redo window.
    const wait = queue.redoBound();
    expect(wait).toBeInstanceOf(Promise);
    let settled = false;
    void wait!.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    await complete(); // the oldest is done
    expect(settled).toBe(true);
    expect(queue.redoBound()).toBeUndefined();
    expect(held).toHaveLength(REDO_RECORDS - 1);
  });

  it('settleRange and settled wait for the writes in flight (reads, zeroing, disk syncs)', async () => {
    const { queue, complete } = heldImage(1 << 20);
    void queue.write(0, big(1), false, 0);
    expect(queue.settleRange(ASYNC_WRITE_BYTES, 4096)).toBeUndefined();
    const range = queue.settleRange(4096, 4096);
    const all = queue.settled();
    let done = 0;
    void range!.then(() => done++);
    void all.then(() => done++);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(0);
    await complete();
    expect(done).toBe(2);
  });
});
