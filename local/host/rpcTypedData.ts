/**
 * Plain values ⇄ the worker protocol's `TypedData` (`{ string | json | bytes | int | double |
 * collectionBytes | collectionString | http ... }`), the shape `@azure/functions` reads and writes.
 */
export type RpcTypedData = Record<string, unknown>;

export function toRpcTypedData(value: unknown): RpcTypedData | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { string: value };
  if (Buffer.isBuffer(value)) return { bytes: value };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value) };
  if (value instanceof ArrayBuffer) return { bytes: Buffer.from(value) };
  if (typeof value === 'number')
    return Number.isInteger(value) ? { int: value } : { double: value };
  if (typeof value === 'boolean') return { json: JSON.stringify(value) };
  if (Array.isArray(value) && value.length > 0) {
    if (value.every((v) => Buffer.isBuffer(v) || v instanceof Uint8Array)) {
      return { collectionBytes: { bytes: value.map((v) => Buffer.from(v as Uint8Array)) } };
    }
    if (value.every((v) => typeof v === 'string')) return { collectionString: { string: value } };
  }
  if (value instanceof Date) return { string: value.toISOString() };
  return { json: JSON.stringify(value) };
}

/** Inverse for values coming back from the library (return values, output bindings). */
export function fromRpcTypedData(data: unknown): unknown {
  if (data === undefined || data === null || typeof data !== 'object') return data;
  const d = data as Record<string, unknown>;
  if (d.string !== undefined && d.string !== null) return d.string;
  if (d.json !== undefined && d.json !== null) return JSON.parse(d.json as string);
  if (d.bytes !== undefined && d.bytes !== null) return Buffer.from(d.bytes as Uint8Array);
  if (d.stream !== undefined && d.stream !== null) return Buffer.from(d.stream as Uint8Array);
  if (d.int !== undefined && d.int !== null) return Number(d.int);
  if (d.double !== undefined && d.double !== null) return Number(d.double);
  const cb = d.collectionBytes as { bytes?: Uint8Array[] } | undefined;
  if (cb?.bytes) return cb.bytes.map((b) => Buffer.from(b));
  const cs = d.collectionString as { string?: string[] } | undefined;
  if (cs?.string) return cs.string;
  const cd = d.collectionDouble as { double?: number[] } | undefined;
  if (cd?.double) return cd.double;
  const ci = d.collectionSint64 as { sint64?: number[] } | undefined;
  if (ci?.sint64) return ci.sint64.map(Number);
  return undefined;
}
