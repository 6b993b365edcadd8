import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const BOOT = `const { workerData } = require('node:worker_threads');
if (workerData.loader) require(workerData.loader);
require(workerData.file);`;

/**
 * A worker thread running the module `name` that sits next to `callerFile` (pass `__filename`),
 * with `data` as its workerData. Built JS in dist/ runs as it is; TypeScript from source (tests,
 * `node --import tsx`) needs tsx's require hook registered in the worker first, because loader
 * hooks do not reach worker threads.
 */
export function startModuleWorker(callerFile: string, name: string, data: object = {}): Worker {
  const ext = path.extname(callerFile);
  const file = path.join(path.dirname(callerFile), `${name}${ext}`);
  const loader = ext === '.ts' ? require.resolve('tsx/cjs') : undefined;
  return new Worker(BOOT, { eval: true, workerData: { ...data, file, loader } });
}
