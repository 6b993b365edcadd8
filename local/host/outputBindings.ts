import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { resolveSettingRefs, storageConnectionString } from './appSettings';
import type { HostFunction } from './plugin';

/** `{name}` from trigger metadata, `{rand-guid}`, `{DateTime}` and `%Setting%`, as in binding paths. */
function bindingPath(
  template: string,
  metadata: Record<string, unknown>,
  settings: Record<string, string>,
): string {
  const lower = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
  return resolveSettingRefs(template, settings).replace(/\{([^}]+)\}/g, (whole, key: string) => {
    if (key.toLowerCase() === 'rand-guid') return randomUUID();
    if (key.toLowerCase() === 'datetime') return new Date().toISOString();
    const v = lower[key.toLowerCase()];
    return v === undefined || v === null ? whole : String(v);
  });
}

const asBytes = (v: unknown): Buffer =>
  Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(JSON.stringify(v));

/**
 * Storage output bindings (`output.storageQueue`, `output.storageBlob`) written after a
 * successful invocation, as the Functions host does. Other output types are left to drivers.
 */
export async function writeOutputBindings(
  fn: HostFunction,
  outputs: Record<string, unknown>,
  metadata: Record<string, unknown>,
  settings: Record<string, string>,
): Promise<void> {
  for (const [name, value] of Object.entries(outputs)) {
    const b = fn.bindings[name];
    if (!b || value === undefined || value === null) continue;
    const type = String(b.type).toLowerCase();
    if (type === 'queue') {
      const conn = storageConnectionString(b.connection, settings);
      const queue = QueueServiceClient.fromConnectionString(conn).getQueueClient(
        bindingPath(String(b.queueName), metadata, settings).toLowerCase(),
      );
      await queue.createIfNotExists();
      for (const item of Array.isArray(value) ? value : [value]) {
        await queue.sendMessage(asBytes(item).toString('base64'));
      }
    } else if (type === 'blob') {
      const conn = storageConnectionString(b.connection, settings);
      const path = bindingPath(String(b.path), metadata, settings);
      const slash = path.indexOf('/');
      const container = BlobServiceClient.fromConnectionString(conn).getContainerClient(
        path.slice(0, slash),
      );
      await container.createIfNotExists();
      const bytes = asBytes(value);
      await container.getBlockBlobClient(path.slice(slash + 1)).upload(bytes, bytes.length);
    }
  }
}
