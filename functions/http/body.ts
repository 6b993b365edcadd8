import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import { tooLarge, validation } from '../../core/errors';

/**
 * Reads and validates a JSON body: size limit (413), well-formed JSON (400), schema (400 with
 * field errors). Nothing is written before this returns, so a bad body changes nothing.
 * An empty body is treated as `{}` (all-optional bodies such as protect).
 */
export async function parseBody<S extends z.ZodType>(
  req: HttpRequest,
  schema: S,
  maxBytes: number,
): Promise<z.infer<S>> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw tooLarge(`The request body exceeds ${maxBytes} bytes.`);
  }
  const bytes = await readCapped(req, maxBytes);
  const type = req.headers.get('content-type');
  if (bytes.length && type && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw validation(`Content-Type must be application/json, not '${type}'.`);
  }
  let json: unknown = {};
  if (bytes.length) {
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      // No parser message: it quotes the input, which may hold a token.
      throw validation('The body is not valid JSON.');
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(root)',
      code: i.code,
      message: i.message,
      ...('keys' in i ? { keys: i.keys } : {}),
    }));
    throw validation(
      `The body does not match the schema: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      { errors },
    );
  }
  return parsed.data;
}

/**
 * The body's bytes, reading no further than `maxBytes`: a chunked body (no content-length, or a
 * false one) is refused at the limit instead of being buffered whole first.
 */
async function readCapped(req: HttpRequest, maxBytes: number): Promise<Buffer> {
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`The request body exceeds ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** A route parameter validated against a schema (400 on mismatch). */
export function param<S extends z.ZodType>(req: HttpRequest, name: string, schema: S): z.infer<S> {
  const parsed = schema.safeParse(req.params[name]);
  if (!parsed.success) throw validation(`Invalid '${name}' in the path.`);
  return parsed.data;
}
