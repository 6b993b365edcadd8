import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArmReply } from './armContext';
import { ArmError, badRequest } from './armError';

/** The local ARM endpoint's request bodies and replies on the wire. */

const MAX_BODY = 4 * 1024 * 1024;

/** The request's JSON object; undefined when it has no body. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY)
      throw new ArmError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw badRequest(
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  }
}

/** Every reply carries a request id, as ARM's do. */
export function send(res: ServerResponse, reply: ArmReply): void {
  const headers: Record<string, string> = {
    'x-ms-request-id': cryptoId(),
    ...(reply.headers ?? {}),
  };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

let counter = 0;
const cryptoId = () => `local-${process.pid}-${++counter}`;
