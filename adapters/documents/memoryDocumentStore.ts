import { randomUUID } from 'node:crypto';
import { conflict, notFound, precondition } from '../../core/errors';
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
import {
  assertDeclaredOrdering,
  compareByOrder,
  isAfter,
  matchesFilter,
  planQuery,
} from '../../core/documents/query';
import { isExpired, partitionKeyOf, toPage } from './collectionRules';

interface Entry {
  json: string;
  etag: string;
}

/** In-process document store with the same semantics as the Cosmos adapter (for tests and demos). */
export class MemoryDocumentStore implements DocumentStore {
  private readonly containers = new Map<string, Map<string, Entry>>();

  constructor(private readonly now: () => number = Date.now) {}

  async ensure(defs: readonly CollectionDef[]): Promise<void> {
    for (const d of defs) this.container(d.name);
  }

  async ping(): Promise<void> {}

  collection<T extends Document>(def: CollectionDef): Collection<T> {
    return new MemoryCollection<T>(def, this.container(def.name), this.now);
  }

  private container(name: string): Map<string, Entry> {
    let c = this.containers.get(name);
    if (!c) this.containers.set(name, (c = new Map()));
    return c;
  }
}

class MemoryCollection<T extends Document> implements Collection<T> {
  constructor(
    readonly def: CollectionDef,
    private readonly items: Map<string, Entry>,
    private readonly now: () => number,
  ) {}

  private pk(doc: T): string {
    return partitionKeyOf(this.def, doc);
  }

  private key(pk: string, id: string): string {
    return JSON.stringify([pk, id]);
  }

  private live(e: Entry | undefined): Entry | undefined {
    if (!e || !this.def.expiresAtField) return e;
    return isExpired(this.def, JSON.parse(e.json) as object, this.now()) ? undefined : e;
  }

  private write(key: string, doc: T): Versioned<T> {
    const json = JSON.stringify(doc);
    const e: Entry = { json, etag: `"${randomUUID()}"` };
    this.items.set(key, e);
    return { doc: JSON.parse(json) as T, etag: e.etag };
  }

  async get(partitionKey: string, id: string): Promise<Versioned<T> | undefined> {
    const e = this.live(this.items.get(this.key(partitionKey, id)));
    return e && { doc: JSON.parse(e.json) as T, etag: e.etag };
  }

  async create(doc: T): Promise<Versioned<T>> {
    const key = this.key(this.pk(doc), doc.id);
    // An expired document still occupies its id (as in Cosmos until it is deleted).
    if (this.items.has(key)) throw conflict(`'${doc.id}' already exists in ${this.def.name}.`);
    return this.write(key, doc);
  }

  async replace(doc: T, opts: WriteOptions = {}): Promise<Versioned<T>> {
    const key = this.key(this.pk(doc), doc.id);
    const cur = this.items.get(key);
    if (!cur) throw notFound(this.def.name, doc.id);
    if (opts.ifMatch !== undefined && opts.ifMatch !== cur.etag) throw precondition();
    return this.write(key, doc);
  }

  async upsert(doc: T, opts: WriteOptions = {}): Promise<Versioned<T>> {
    if (opts.ifMatch !== undefined) return this.replace(doc, opts);
    return this.write(this.key(this.pk(doc), doc.id), doc);
  }

  async delete(partitionKey: string, id: string, opts: WriteOptions = {}): Promise<boolean> {
    const key = this.key(partitionKey, id);
    const cur = this.items.get(key);
    if (!cur) return false;
    if (opts.ifMatch !== undefined && opts.ifMatch !== cur.etag) throw precondition();
    this.items.delete(key);
    return true;
  }

  async query(q: Query = {}): Promise<Page<T>> {
    const plan = planQuery(q);
    assertDeclaredOrdering(this.def, plan);
    const rows: Versioned<T>[] = [];
    for (const e of this.items.values()) {
      if (!this.live(e)) continue;
      const doc = JSON.parse(e.json) as T;
      if (q.partitionKey !== undefined && this.pk(doc) !== q.partitionKey) continue;
      if (!plan.where.every((f) => matchesFilter(doc, f))) continue;
      if (plan.after && !isAfter(doc, plan.after, plan.orderBy)) continue;
      rows.push({ doc, etag: e.etag });
    }
    rows.sort((a, b) => compareByOrder(a.doc, b.doc, plan.orderBy));
    return toPage(rows, plan);
  }
}
