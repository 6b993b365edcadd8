import type { Container, ContainerDefinition, CosmosClient } from '@azure/cosmos';
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The state a successful write left: replaying records in order rebuilds it (idempotently). */
export type WriteRecord =
  | { op: 'db'; id: string }
  | { op: 'dropDb'; id: string }
  | { op: 'coll'; db: string; definition: ContainerDefinition }
  | { op: 'dropColl'; db: string; id: string }
  | { op: 'doc'; db: string; coll: string; doc: Record<string, unknown> }
  | { op: 'dropDoc'; db: string; coll: string; id: string; pk: unknown };

/** A write this log cannot describe (e.g. a transactional batch): only a snapshot keeps it. */
export const UNDESCRIBED = 'undescribed';

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts'];

export function withoutSystemFields(item: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...item };
  SYSTEM_FIELDS.forEach((f) => delete copy[f]);
  return copy;
}

export function definitionOf(c: ContainerDefinition): ContainerDefinition {
  return {
    id: c.id,
    partitionKey: c.partitionKey,
    indexingPolicy: c.indexingPolicy,
    uniqueKeyPolicy: c.uniqueKeyPolicy,
    defaultTtl: c.defaultTtl,
  };
}

/**
 * What a request that succeeded changed, from its method, path and the server's response: the
 * document (or definition) as stored after the write, or what was deleted. Reads and queries
 * change nothing (undefined).
 */
export function writeRecordOf(
  method: string,
  url: string,
  headers: Record<string, string | string[] | undefined>,
  responseBody: string,
): WriteRecord | typeof UNDESCRIBED | undefined {
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (String(headers['x-ms-documentdb-isquery'] ?? '').toLowerCase() === 'true') return undefined;
  if (headers['x-ms-cosmos-is-query-plan-request']) return undefined;
  if (headers['x-ms-cosmos-is-batch-request']) return UNDESCRIBED;
  const parts = (url.split('?')[0] ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  const body = () => JSON.parse(responseBody) as Record<string, unknown>;
  const [dbs, db, colls, coll, docs, doc] = parts;
  if (dbs !== 'dbs') return UNDESCRIBED;
  if (parts.length === 1 && method === 'POST') return { op: 'db', id: String(body().id) };
  if (parts.length === 2 && method === 'DELETE') return { op: 'dropDb', id: db! };
  if (colls !== 'colls') return UNDESCRIBED;
  if ((parts.length === 3 && method === 'POST') || (parts.length === 4 && method === 'PUT'))
    return { op: 'coll', db: db!, definition: definitionOf(body() as ContainerDefinition) };
  if (parts.length === 4 && method === 'DELETE') return { op: 'dropColl', db: db!, id: coll! };
  if (docs !== 'docs') return UNDESCRIBED;
  if (parts.length === 6 && method === 'DELETE') {
    const pk = JSON.parse(String(headers['x-ms-documentdb-partitionkey'] ?? '[]')) as unknown[];
    return { op: 'dropDoc', db: db!, coll: coll!, id: doc!, pk: pk.length === 1 ? pk[0] : pk };
  }
  // POST (create, upsert), PUT (replace), PATCH: the response is the document as stored.
  return { op: 'doc', db: db!, coll: coll!, doc: withoutSystemFields(body()) };
}

const LOG = /^writes\.(\d+)\.jsonl$/;

/**
 * Numbered JSON-lines files of write records in `dir`. A record is appended before the client
 * sees its response (a synchronous append to the page cache), so a killed process keeps every
 * write it acknowledged. A snapshot covers the files numbered below the one current when it
 * started; those are removed once it is on disk.
 */
export class WriteLog {
  #current: number;
  #bytes = 0;

  constructor(readonly dir: string) {
    this.#current = Math.max(0, ...this.numbers()) + 1;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The numbers of the files on disk, oldest first. */
  numbers(): number[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .map((f) => LOG.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  append(record: WriteRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    appendFileSync(this.#file(this.#current), line);
    this.#bytes += line.length;
  }

  /** Starts a new file; returns its number (a snapshot taken now covers every file before it). */
  rotate(): number {
    this.#current += 1;
    this.#bytes = 0;
    return this.#current;
  }

  removeBefore(n: number): void {
    for (const k of this.numbers()) if (k < n) rmSync(this.#file(k), { force: true });
  }

  /** Applies the files numbered `from` and later, in order. A torn last line is skipped. */
  async replay(client: CosmosClient, from: number): Promise<void> {
    for (const n of this.numbers().filter((k) => k >= from)) {
      const lines = readFileSync(this.#file(n), 'utf8').split('\n');
      for (const line of lines) {
        let record: WriteRecord;
        try {
          record = JSON.parse(line) as WriteRecord;
        } catch {
          continue; // the line being written when the process died, or the empty last one
        }
        await apply(client, record);
      }
    }
  }

  #file(n: number): string {
    return join(this.dir, `writes.${n}.jsonl`);
  }
}

const ignoreNotFound = (e: unknown) => {
  if ((e as { code?: number }).code !== 404) throw e;
};

async function apply(client: CosmosClient, r: WriteRecord): Promise<void> {
  const container = (db: string, id: string): Container => client.database(db).container(id);
  switch (r.op) {
    case 'db':
      await client.databases.createIfNotExists({ id: r.id });
      return;
    case 'dropDb':
      await client.database(r.id).delete().catch(ignoreNotFound);
      return;
    case 'coll': {
      const { container: c } = await client
        .database(r.db)
        .containers.createIfNotExists(r.definition);
      await c.replace(r.definition);
      return;
    }
    case 'dropColl':
      await container(r.db, r.id).delete().catch(ignoreNotFound);
      return;
    case 'doc':
      // A unique key held by a later version in the snapshot: the records after this one in the
      // log lead to that version, so this older one is skipped.
      await container(r.db, r.coll)
        .items.upsert(r.doc)
        .catch((e: unknown) => {
          if ((e as { code?: number }).code !== 409) throw e;
        });
      return;
    case 'dropDoc':
      await container(r.db, r.coll)
        .item(r.id, r.pk as string)
        .delete()
        .catch(ignoreNotFound);
  }
}
