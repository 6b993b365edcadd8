import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stopLocalArmVms } from '../../local/arm/localArm';
import { startStack, type StackInfo, type StackProc } from './localStack';

export interface StackBroker {
  url: string;
  close(): Promise<void>;
}

/**
 * Runs in the test run's main process (global setup): hands out one local stack (`local/stack`
 * as a process: host, Azurite, Cosmos, Event Hubs) per worker slot, started on the first ask
 * and stopped at the end of the run. Test files that do not need to kill or restart services
 * share it (`sharedLocalStack()` in stack.ts) instead of starting a stack each: a stack takes
 * ~10 s to start. The watchdog of each stack holds a pipe from this process, so none outlives
 * the run.
 */
export async function startStackBroker(): Promise<StackBroker> {
  const dir = mkdtempSync(path.join(tmpdir(), 'haven-shared-stacks-'));
  const stacks = new Map<string, Promise<StackProc>>();
  const server = createServer((req, res) => {
    const slot = /^\/stack\/(\w+)$/.exec(req.url ?? '')?.[1];
    if (!slot) {
      res.writeHead(404).end();
      return;
    }
    let s = stacks.get(slot);
    if (!s) {
      s = startStack(path.join(dir, `slot-${slot}`));
      stacks.set(slot, s);
      s.catch(() => stacks.delete(slot)); // the next ask tries again
    }
    s.then(
      (st) => {
        const info: StackInfo = {
          port: st.port,
          stateDir: st.stateDir,
          apiUrl: st.apiUrl,
          env: st.env,
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info));
      },
      (e: unknown) => res.writeHead(500).end(String((e as Error)?.message ?? e)),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.close();
      const started = await Promise.allSettled(stacks.values());
      await Promise.all(
        started.map(async (s) => {
          if (s.status !== 'fulfilled') return;
          await s.value.stop();
          await stopLocalArmVms(s.value.stateDir); // a stopped stack's guests run on by design
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
