/** What a link address names. */
export type Address =
  | { kind: 'cbs' }
  | { kind: 'management' }
  | { kind: 'hub'; hub: string; partition?: string; publisher?: string }
  | { kind: 'consumer'; hub: string; consumerGroup: string; partition: string }
  | { kind: 'unknown'; hub: string };

export function parseAddress(address: string | undefined): Address {
  const parts = (address ?? '').split('/').filter((p) => p.length > 0);
  if (parts.length === 1 && parts[0] === '$cbs') return { kind: 'cbs' };
  if (parts.length === 1 && parts[0] === '$management') return { kind: 'management' };
  const [hub, a, b, c, d] = parts;
  if (!hub) return { kind: 'unknown', hub: '' };
  const la = a?.toLowerCase();
  if (parts.length === 1) return { kind: 'hub', hub };
  if (parts.length === 3 && la === 'partitions') return { kind: 'hub', hub, partition: b };
  if (parts.length === 3 && la === 'publishers') return { kind: 'hub', hub, publisher: b };
  if (parts.length === 5 && la === 'consumergroups' && c?.toLowerCase() === 'partitions') {
    return { kind: 'consumer', hub, consumerGroup: b!, partition: d! };
  }
  return { kind: 'unknown', hub };
}

/** Path segments of `sb://host/a/b` (any scheme, any host). */
export function resourcePath(uri: string): string[] | undefined {
  const m = /^[a-z]+:\/\/[^/]+(\/.*)?$/i.exec(uri.trim());
  if (!m) return undefined;
  return (m[1] ?? '')
    .split('/')
    .filter((p) => p.length > 0)
    .map((p) => p.toLowerCase());
}
