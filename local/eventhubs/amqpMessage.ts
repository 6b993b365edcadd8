// rhea exports a Container instance whose API lives on its prototype; a namespace import would drop it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import rhea = require('rhea');

/* rhea's codec is untyped in its typings; this is the small part of it the endpoint uses. */
interface Typed {
  value: unknown;
  descriptor?: { value: unknown };
}
interface RheaTypes {
  Reader: new (buf: Buffer) => { read(): Typed; remaining(): number; position: number };
  Writer: new () => { write(t: unknown): void; toBuffer(): Buffer };
  described_nc(descriptor: unknown, value: unknown): unknown;
  wrap_ulong(v: number): unknown;
  wrap_long(v: number): unknown;
  wrap_timestamp(v: number): unknown;
  wrap_symbolic_map(m: Record<string, unknown>): unknown;
  wrap(v: unknown): unknown;
  unwrap_map_simple(t: unknown): Record<string, unknown>;
  unwrap(t: unknown): unknown;
}
export const amqpTypes = (rhea as unknown as { types: RheaTypes }).types;

/** Event Hubs' batch message format: the body's data sections are whole encoded messages. */
export const BATCH_FORMAT = 0x80013700;

const HEADER = 0x70;
const DELIVERY_ANNOTATIONS = 0x71;
const MESSAGE_ANNOTATIONS = 0x72;
const PROPERTIES = 0x73;
const DATA = 0x75;
const SYMBOLIC: Record<string, number> = {
  'amqp:header:list': 0x70,
  'amqp:delivery-annotations:map': 0x71,
  'amqp:message-annotations:map': 0x72,
  'amqp:properties:list': 0x73,
  'amqp:application-properties:map': 0x74,
  'amqp:data:binary': 0x75,
  'amqp:amqp-sequence:list': 0x76,
  'amqp:amqp-value:*': 0x77,
  'amqp:footer:map': 0x78,
};

export interface Section {
  code: number;
  start: number;
  end: number;
  value: Typed;
}

/** Splits an encoded message into its top-level sections without copying the body. */
export function splitSections(buf: Buffer): Section[] {
  const reader = new amqpTypes.Reader(buf);
  const out: Section[] = [];
  while (reader.remaining() > 0) {
    const start = reader.position;
    const value = reader.read();
    const d = value.descriptor?.value;
    const code = typeof d === 'number' ? d : typeof d === 'string' ? (SYMBOLIC[d] ?? -1) : -1;
    if (code < 0) throw new Error('not an AMQP message section');
    out.push({ code, start, end: reader.position, value });
  }
  return out;
}

/** The message annotations of an encoded message (plain values), or {}. */
export function readAnnotations(sections: Section[]): Record<string, unknown> {
  const s = sections.find((x) => x.code === MESSAGE_ANNOTATIONS);
  return s ? amqpTypes.unwrap_map_simple(s.value) : {};
}

/** For a batch message: the encoded inner messages carried in its data sections. */
export function batchParts(sections: Section[]): Buffer[] {
  return sections.filter((s) => s.code === DATA).map((s) => s.value.value as Buffer);
}

/**
 * Re-encodes `buf` with `extra` merged into its message annotations; header, properties,
 * application properties and body bytes are copied as they are (no decode of the body).
 */
export function withAnnotations(
  buf: Buffer,
  sections: Section[],
  extra: Record<string, unknown>,
): Buffer {
  const existing = readAnnotations(sections);
  const w = new amqpTypes.Writer();
  w.write(
    amqpTypes.described_nc(
      amqpTypes.wrap_ulong(MESSAGE_ANNOTATIONS),
      amqpTypes.wrap_symbolic_map({ ...existing, ...extra }),
    ),
  );
  const annotations = w.toBuffer();
  const before = sections.filter((s) => s.code === HEADER || s.code === DELIVERY_ANNOTATIONS);
  const after = sections.filter((s) => s.code >= PROPERTIES);
  const parts: Buffer[] = before.map((s) => buf.subarray(s.start, s.end));
  parts.push(annotations);
  for (const s of after) parts.push(buf.subarray(s.start, s.end));
  return Buffer.concat(parts);
}
