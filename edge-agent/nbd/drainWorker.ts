import { parentPort, workerData } from 'node:worker_threads';
import { packResult } from './drainTransfer';
import { JournalDrain, type DrainOptions, type DrainRequest } from './journalDrain';

/** What DrainThread starts the worker with. */
export interface DrainWorkerData {
  fromLsn: number;
  opts: DrainOptions;
}

export type DrainWorkerMessage = { id: number; req: DrainRequest } | { id: number; close: true };

/**
 * The journal drain's thread: reads the journal back and builds extents beside the NBD server,
 * whose event loop then only parses requests, appends and writes.
 */
const data = workerData as DrainWorkerData;
const drain = new JournalDrain(data.fromLsn, data.opts);
const port = parentPort!;
// Loaded and ready: the first request will not wait for the thread to start.
port.postMessage({ id: 0 });
port.on('message', (m: DrainWorkerMessage) => {
  try {
    if ('close' in m) {
      drain.close();
      port.postMessage({ id: m.id });
      return;
    }
    const { packed, transfer } = packResult(drain.poll(m.req), (b) => drain.owns(b));
    port.postMessage({ id: m.id, res: packed }, transfer);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message });
  }
});
