import {
  CosmosClient,
  type Container,
  type Database,
  type ItemDefinition,
  type RequestOptions,
  type SqlParameter,
} from '@azure/cosmos';
import {
  HavenError,
  conflict,
  notFound,
  precondition,
  transient,
  validation,
} from '../../core/errors';
import type {
  Collection,
  CollectionDef,
  Document,
  DocumentStore,
  Page,
  Query,
  Versioned,
  WriteOptions,
} from '../../core/documents/ports';
import { assertDeclaredOrdering, planQuery } from '../../core/documents/query';
import { cosmosClientOptions, type CosmosStoreOptions } from './cosmosClientOptions';
import { cosmosContainerOf } from './cosmosContainerDefinition';
import { isExpired, partitionKeyOf, toPage } from './collectionRules';

export type { CosmosStoreOptions };

/** Maps SDK failures to Haven's error kinds; `what`/`id` name the resource for 404s. */
function mapError(e: unknown, what: string, id: string): HavenError {
  if (e instanceof HavenError) return e;
  const code = (e as { code?: unknown; statusCode?: unknown }).code;
  const status = typeof code === 'number' ? code : (e as { statusCode?: number }).statusCode;
  if (status === 409) return conflict(`'${id}' already exists in ${what}.`);
  if (status === 412) return precondition();
  if (status === 404) return notFound(what, id);
  if (status === 400) return validation(`Cosmos refused the request for ${what}.`);
  return transient(`Cosmos DB is unavailable (${what}).`, e);
}

function ifMatch(opts: WriteOptions): RequestOptions {
  return {
    accessCondition:
      opts.ifMatch !== undefined ? { type: 'IfMatch', condition: opts.ifMatch } : undefined,
  };
}

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts', '_lsn'];

function strip<T>(resource: ItemDefinition): T {
  const out: Record<string, unknown> = { ...resource };
  for (const f of SYSTEM_FIELDS) delete out[f];
  return out as T;
}

/**
 * Cosmos DB (SQL API) adapter. Written for both real Cosmos and the local emulator: the
 * partition key is always also filtered in WHERE (the emulator ignores the partitionKey
 * option), expiry is checked on read (no TTL there), paging is keyset-based on ORDER BY
 * (no OFFSET), and nothing relies on transactional batch.
 */
export class CosmosDocumentStore implements DocumentStore {
  private readonly client: CosmosClient;
  private database?: Promise<Database>;
  private readonly containers = new Map<string, Promise<Container>>();
  private readonly now: () => number;

  constructor(private readonly opts: CosmosStoreOptions) {
    this.client = new CosmosClient(cosmosClientOptions(opts));
    this.now = opts.now ?? Date.now;
  }

  private db(): Promise<Database> {
    this.database ??= this.client.databases
      .createIfNotExists({ id: this.opts.database })
      .then((r) => r.database);
    this.database.catch(() => (this.database = undefined));
    return this.database;
  }

  /** Creates the container once per process (createIfNotExists), retrying after failures. */
  container(def: CollectionDef): Promise<Container> {
    let p = this.containers.get(def.name);
    if (!p) {
      p = this.db()
        .then((db) => db.containers.createIfNotExists(cosmosContainerOf(def)))
        .then((r) => r.container)
        .catch((e: unknown) => {
          this.containers.delete(def.name);
          throw mapError(e, def.name, def.name);
        });
      this.containers.set(def.name, p);
    }
    return p;
  }

  async ensure(defs: readonly CollectionDef[]): Promise<void> {
    await Promise.all(defs.map((d) => this.container(d)));
  }

  async ping(): Promise<void> {
    try {
      await (await this.db()).read();
    } catch (e) {
      throw mapError(e, 'database', this.opts.database);
    }
  }

  collection<T extends Document>(def: CollectionDef): Collection<T> {
    return new CosmosCollection<T>(def, () => this.container(def), this.now);
  }
}

class CosmosCollection<T extends Document> implements Collection<T> {
  constructor(
    readonly def: CollectionDef,
    private readonly container: () => Promise<Container>,
    private readonly now: () => number,
  ) {}

  private pk(doc: T): string {
    return partitionKeyOf(this.def, doc);
  }

  private expired(resource: ItemDefinition): boolean {
    return isExpired(this.def, resource, this.now());
  }

  private versioned(resource: ItemDefinition | undefined, id: string): Versioned<T> {
    if (!resource) throw notFound(this.def.name, id);
    return { doc: strip<T>(resource), etag: resource._etag as string };
  }

  async get(partitionKey: string, id: string): Promise<Versioned<T> | undefined> {
    try {
      const c = await this.container();
      const r = await c.item(id, partitionKey).read();
      if (r.statusCode === 404 || !r.resource || this.expired(r.resource)) return undefined;
      return this.versioned(r.resource, id);
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw mapError(e, this.def.name, id);
    }
  }

  async create(doc: T): Promise<Versioned<T>> {
    this.pk(doc);
    try {
      const c = await this.container();
      const r = await c.items.create(doc, { disableAutomaticIdGeneration: true });
      return this.versioned(r.resource, doc.id);
    } catch (e) {
      throw mapError(e, this.def.name, doc.id);
    }
  }

  async replace(doc: T, opts: WriteOptions = {}): Promise<Versioned<T>> {
    const pk = this.pk(doc);
    try {
      const c = await this.container();
      const r = await c.item(doc.id, pk).replace(doc, ifMatch(opts));
      return this.versioned(r.resource, doc.id);
    } catch (e) {
      throw mapError(e, this.def.name, doc.id);
    }
  }

  async upsert(doc: T, opts: WriteOptions = {}): Promise<Versioned<T>> {
    if (opts.ifMatch !== undefined) return this.replace(doc, opts);
    this.pk(doc);
    try {
      const c = await this.container();
      const r = await c.items.upsert(doc, { disableAutomaticIdGeneration: true });
      return this.versioned(r.resource, doc.id);
    } catch (e) {
      throw mapError(e, this.def.name, doc.id);
    }
  }

  async delete(partitionKey: string, id: string, opts: WriteOptions = {}): Promise<boolean> {
    try {
      const c = await this.container();
      await c.item(id, partitionKey).delete(ifMatch(opts));
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 404) return false;
      throw mapError(e, this.def.name, id);
    }
  }

  async query(q: Query = {}): Promise<Page<T>> {
    const plan = planQuery(q);
    assertDeclaredOrdering(this.def, plan);
    const parameters: SqlParameter[] = [];
    const param = (value: unknown): string => {
      const name = `@p${parameters.length}`;
      parameters.push({ name, value: value as SqlParameter['value'] });
      return name;
    };
    const ref = (field: string) => `c.${field}`;
    const clauses: string[] = [];
    if (q.partitionKey !== undefined) {
      clauses.push(`${ref(this.def.partitionKey)} = ${param(q.partitionKey)}`);
    }
    for (const f of plan.where) {
      if (f.op === 'in') {
        const values = f.value as readonly unknown[];
        clauses.push(
          values.length ? `${ref(f.field)} IN (${values.map(param).join(', ')})` : 'false',
        );
      } else {
        clauses.push(`${ref(f.field)} ${f.op} ${param(f.value)}`);
      }
    }
    if (this.def.expiresAtField) {
      const f = ref(this.def.expiresAtField);
      clauses.push(`(NOT IS_DEFINED(${f}) OR ${f} = null OR ${f} > ${param(this.now())})`);
    }
    if (plan.after) {
      // Lexicographic "strictly after" over the ORDER BY keys (keyset paging).
      const after = plan.after;
      const ors = plan.orderBy.map((o, i) => {
        const eqs = plan.orderBy.slice(0, i).map((p, j) => `${ref(p.field)} = ${param(after[j])}`);
        const cmp = `${ref(o.field)} ${o.direction === 'asc' ? '>' : '<'} ${param(after[i])}`;
        return `(${[...eqs, cmp].join(' AND ')})`;
      });
      clauses.push(`(${ors.join(' OR ')})`);
    }
    const where = clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '';
    const order = plan.orderBy
      .map((o) => `${ref(o.field)} ${o.direction.toUpperCase()}`)
      .join(', ');
    const query = `SELECT TOP ${plan.limit + 1} * FROM c${where} ORDER BY ${order}`;
    try {
      const c = await this.container();
      const { resources } = await c.items
        .query<ItemDefinition>({ query, parameters }, { partitionKey: q.partitionKey })
        .fetchAll();
      return toPage(
        resources.map((r) => this.versioned(r, String(r.id))),
        plan,
      );
    } catch (e) {
      throw mapError(e, this.def.name, '(query)');
    }
  }
}
