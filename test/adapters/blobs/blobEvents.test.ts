import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { EventGridBlobEvents, HostNudgeBlobEvents } from '../../../adapters/blobs/blobEvents';

describe('BlobEvents', () => {
  it('the local implementation POSTs the host nudge with the key', async () => {
    const seen: { headers: Record<string, unknown>; body: unknown; url?: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: JSON.parse(body), url: req.url });
        res.writeHead(202).end('{"matched":1}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const events = new HostNudgeBlobEvents(
        `http://127.0.0.1:${port}/admin/host/blob-written`,
        'k3y',
      );
      await events.written('staging', 'm/d/1/000000000001');
      expect(seen).toEqual([
        {
          url: '/admin/host/blob-written',
          headers: expect.objectContaining({ 'x-functions-key': 'k3y' }),
          body: expect.objectContaining({ container: 'staging', name: 'm/d/1/000000000001' }),
        },
      ]);
    } finally {
      server.close();
    }
  });

  it('a failed nudge is reported, not thrown (the host scan still finds the blob)', async () => {
    const errors: unknown[] = [];
    const events = new HostNudgeBlobEvents(
      'http://127.0.0.1:9/admin/host/blob-written',
      undefined,
      (e) => errors.push(e),
    );
    await events.written('staging', 'x');
    expect(errors).toHaveLength(1);
    await new EventGridBlobEvents().written('staging', 'x'); // Azure: nothing to do
  });
});
