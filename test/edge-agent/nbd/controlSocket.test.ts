import { createServer, connect } from 'node:net';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseControl } from '../../../edge-agent/nbd/controlMessage';
import { listenPrivate } from '../../../edge-agent/nbd/privateSocket';
import { tempDir } from './helpers';

/** serve-disk's sockets open to their owner only, and its control lines are validated. */
describe('serve-disk control socket', () => {
  it('accepts a bookmark, flush and status; refuses bad ids, unknown ops and app without hooks', () => {
    expect(parseControl('{"op":"bookmark","id":"bm-1","groupId":"g1"}', false)).toEqual({
      op: 'bookmark',
      id: 'bm-1',
      groupId: 'g1',
      consistency: 'crash',
    });
    expect(parseControl('{"op":"status"}', false)).toEqual({ op: 'status' });
    expect(() => parseControl('{"op":"bookmark","id":"../../etc"}', false)).toThrow(/bookmark id/);
    expect(() => parseControl(`{"op":"bookmark","id":"${'a'.repeat(200)}"}`, false)).toThrow(
      /bookmark id/,
    );
    expect(() => parseControl('{"op":"bookmark","id":"b","groupId":"\\u001b[31m"}', false)).toThrow(
      /groupId/,
    );
    expect(() => parseControl('{"op":"bookmark","id":"b","consistency":"app"}', false)).toThrow(
      /freeze hooks/,
    );
    expect(parseControl('{"op":"bookmark","id":"b","consistency":"app"}', true)).toMatchObject({
      consistency: 'app',
    });
    expect(() => parseControl('{"op":"rm -rf"}', false)).toThrow(/unknown op/);
    expect(() => parseControl('nope', false)).toThrow(/not JSON/);
  });

  it('listens with mode 0600 from the start, and never replaces a file that is not a socket', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.sock');
    const server = createServer((s) => s.end('hi'));
    await listenPrivate(server, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const got = await new Promise<string>((resolve) =>
      connect(path).on('data', (d) => resolve(d.toString())),
    );
    expect(got).toBe('hi');
    await new Promise<void>((r) => server.close(() => r()));
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'keep me');
    await expect(listenPrivate(createServer(), file)).rejects.toThrow(/not a socket/);
  });
});
