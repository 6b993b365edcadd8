import { connect } from 'node:net';

/**
 * One request on serve-disk's control socket: a JSON line out, the first JSON line back.
 * The server's replies carry `ok: true` or an `error`; the caller decides what a refusal means.
 */
export function controlRequest(path: string, msg: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch (e) {
        reject(e as Error);
      }
    });
    s.on('error', reject);
    s.on('end', () => reject(new Error(`control socket ${path} closed without a reply`)));
    s.write(`${JSON.stringify(msg)}\n`);
  });
}
