import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendProblem } from './problem';

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Request body exceeds ${limit} bytes`);
  }
}

/** Answers a body over the limit: 413, and the connection closes (the rest is drained, not read). */
export function sendTooLarge(
  req: IncomingMessage,
  res: ServerResponse,
  e: BodyTooLargeError,
): void {
  res.setHeader('connection', 'close');
  sendProblem(res, 413, `The request body is larger than ${e.limit} bytes.`);
  req.resume();
}

/** Reads the whole request body as raw bytes, refusing more than `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

/** Node's header map as single strings (repeated headers joined like the Functions host). */
export function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
