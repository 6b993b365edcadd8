import { HttpRequest, type HttpRequestInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseBody } from '../../../functions/http/body';

const LIMIT = 64 * 1024;
const CHUNK = 16 * 1024;

/** A chunked request body (no content-length) of `total` bytes, counting what was pulled. */
function chunkedRequest(total: number) {
  const pulled = { bytes: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled.bytes >= total) return c.close();
      pulled.bytes += CHUNK;
      c.enqueue(new Uint8Array(CHUNK).fill(0x20));
    },
  });
  // As the streaming host path builds it: a native Request over the body stream.
  const nativeRequest = new Request('http://localhost/api/x', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    duplex: 'half',
  } as RequestInit);
  const req = new HttpRequest({ nativeRequest } as unknown as HttpRequestInit);
  return { req, pulled };
}

describe('parseBody', () => {
  it('stops reading a chunked body at the limit instead of buffering it whole', async () => {
    const { req, pulled } = chunkedRequest(64 * 1024 * 1024);
    await expect(parseBody(req, z.object({}), LIMIT)).rejects.toMatchObject({
      kind: 'too-large',
    });
    // Read up to one chunk past the limit (and a read-ahead chunk), never the 64 MiB.
    expect(pulled.bytes).toBeLessThanOrEqual(LIMIT + 2 * CHUNK);
  });

  it('reads a chunked body under the limit', async () => {
    const { req } = chunkedRequest(2 * CHUNK);
    await expect(parseBody(req, z.unknown(), LIMIT)).rejects.toMatchObject({
      kind: 'validation', // spaces only: not JSON
    });
    const ok = new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/x',
      headers: { 'content-type': 'application/json' },
      body: { string: '{"a":1}' },
    });
    expect(await parseBody(ok, z.object({ a: z.number() }), LIMIT)).toEqual({ a: 1 });
  });
});
