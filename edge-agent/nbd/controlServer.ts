import { createServer, type Server } from 'node:net';
import { MAX_CONTROL_LINE } from './controlMessage';
import { listenPrivate } from './privateSocket';

/**
 * serve-disk's control socket (mode 0600): JSON lines in, one JSON line answered per line, in
 * the order the answers settle. A line longer than MAX_CONTROL_LINE ends the connection.
 */
export async function listenControl(
  path: string,
  handle: (line: string) => Promise<Record<string, unknown>>,
): Promise<Server> {
  const control = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.length > MAX_CONTROL_LINE && !buf.includes('\n')) {
        sock.end(
          `${JSON.stringify({ ok: false, error: `line longer than ${MAX_CONTROL_LINE} bytes` })}\n`,
        );
        buf = '';
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void handle(line).then((r) => sock.write(`${JSON.stringify(r)}\n`));
      }
    });
    sock.on('error', () => sock.destroy());
  });
  await listenPrivate(control, path);
  return control;
}
