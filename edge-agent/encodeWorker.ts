import { parentPort } from 'node:worker_threads';
import { encodeBatch, type BatchHeaderInput, type ExtentInput } from '../core/batch';

/** One encode request from EncodePool (edge-agent/encodePool.ts). */
export interface EncodeRequest {
  id: number;
  input: BatchHeaderInput;
  extents: ExtentInput[];
  key: Uint8Array;
}

// Compression, hashing and encryption of a batch, off the agent's main thread (which serves the
// disk over NBD and drives the journal, the spool and the sender).
parentPort?.on('message', (m: EncodeRequest) => {
  try {
    const env = encodeBatch(m.input, m.extents, m.key);
    // The envelope owns its memory (allocUnsafe of a large size): it moves back without a copy.
    const own = env.byteOffset === 0 && env.byteLength === env.buffer.byteLength;
    const out = own ? env : Buffer.from(env);
    parentPort!.postMessage({ id: m.id, env: out }, [out.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({
      id: m.id,
      error: { message: (e as Error).message, kind: (e as { kind?: string }).kind },
    });
  }
});
