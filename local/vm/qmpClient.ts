import { createConnection } from 'node:net';

/**
 * One QMP command over QEMU's monitor socket: greeting, `qmp_capabilities`, the command, its
 * `return` (or `error`). A connection per command keeps it simple; QMP is only used to stop
 * guests and to check that a guest we adopt is the one we started.
 */
export function qmpCommand(
  socketPath: string,
  execute: string,
  args?: Record<string, unknown>,
  timeoutMs = 5_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buffered = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`QMP ${execute}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error(`QMP ${execute}: the monitor closed the connection`)));
    sock.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as {
          QMP?: unknown;
          return?: unknown;
          error?: { desc?: string };
          event?: string;
        };
        if (msg.event) continue;
        if (stage === 'greeting' && msg.QMP) {
          stage = 'capabilities';
          sock.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        } else if (msg.error) {
          done(new Error(`QMP ${execute}: ${msg.error.desc ?? 'error'}`));
        } else if (stage === 'capabilities') {
          stage = 'command';
          sock.write(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}) })}\n`);
        } else if (stage === 'command') {
          done(undefined, msg.return);
        }
      }
    });
  });
}
