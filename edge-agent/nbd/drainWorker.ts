import { parentPort, workerData } from 'node:worker_threads';
import { PACK_CHUNK_BYTES, PackArena, packChunk, packResult } from './drainTransfer';
import type { DrainOptions, DrainRequest } from './drainTypes';
import { JournalDrain } from './journalDrain';

/** What DrainThread starts the worker with. */
export interface DrainWorkerData {
  fromLsn: number;
  opts: DrainOptions;
}

export type DrainWorkerMessage =
  | { id: number; req: DrainRequest }
  | { id: number; close: true }
  /** Pack chunks the agent is done with (id 0: no reply). */
  | { id: 0; spare: ArrayBuffer[] };

/** Pack chunks kept for reuse: about what a 50 MB/s stream has between drain and spool. */
const SPARE_CHUNKS = 6;

/**
 * The journal drain's thread: reads the journal back and builds extents beside the NBD server,
 * whose event loop then only parses requests, appends and writes.
 */
const data = workerData as DrainWorkerData;
const drain = new JournalDrain(data.fromLsn, data.opts);
const spare: ArrayBuffer[] = [];
const port = parentPort!;
// Loaded and ready: the first request will not wait for the thread to start.
port.postMessage({ id: 0 });
port.on('message', (m: DrainWorkerMessage) => {
  try {
    if ('spare' in m) {
      for (const c of m.spare)
        if (c.byteLength === PACK_CHUNK_BYTES && spare.length < SPARE_CHUNKS) spare.push(c);
      return;
    }
    if ('close' in m) {
      drain.close();
      port.postMessage({ id: m.id });
      return;
    }
    const arena = new PackArena(() => spare.pop() ?? packChunk());
    const { packed, transfer } = packResult(
      drain.poll(m.req, (n) => arena.alloc(n)),
      (b) => drain.owns(b),
      arena,
      (b) => drain.memoryRef(b),
    );
    // Every byte of the poll that was not moved is in the chunks now.
    drain.recycle();
    port.postMessage({ id: m.id, res: packed }, transfer);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message });
  }
});
