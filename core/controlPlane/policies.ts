import type { DocumentStore, Page, Versioned } from '../documents/ports';
import { HavenError, notFound } from '../errors';
import { collectionsDefs, type PolicyDoc } from './model';
import { policyFields, type CreatePolicyBody, type PolicyFields } from './schemas';

export const DEFAULT_POLICY = 'default';

/** Replication policies, addressed by name. Updates are optimistic (If-Match). */
export class Policies {
  private readonly policies;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.policies = documents.collection<PolicyDoc>(collectionsDefs.policies);
  }

  private now = () => new Date(this.clock()).toISOString();

  async create(body: CreatePolicyBody): Promise<Versioned<PolicyDoc>> {
    const { name, ...fields } = body;
    const now = this.now();
    return this.policies.create({ ...fields, id: name, name, createdAt: now, updatedAt: now });
  }

  async get(name: string): Promise<Versioned<PolicyDoc>> {
    const found = await this.policies.get(name, name);
    if (!found) throw notFound('Policy', name);
    return found;
  }

  /**
   * Replaces a policy's fields. With `ifMatch`, only if unchanged since read (412 otherwise,
   * 404 if absent); without, creates or overwrites.
   */
  async put(name: string, fields: PolicyFields, ifMatch?: string): Promise<Versioned<PolicyDoc>> {
    const existing = await this.policies.get(name, name);
    if (ifMatch !== undefined && !existing) throw notFound('Policy', name);
    const now = this.now();
    const doc: PolicyDoc = {
      ...fields,
      id: name,
      name,
      createdAt: existing?.doc.createdAt ?? now,
      updatedAt: now,
    };
    if (ifMatch !== undefined) return this.policies.replace(doc, { ifMatch });
    return this.policies.upsert(doc);
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<Page<PolicyDoc>> {
    return this.policies.query({ ...page });
  }

  /** The named policy, or the built-in default (created with default values on first use). */
  async resolve(name: string | undefined): Promise<PolicyDoc> {
    if (name !== undefined) return (await this.get(name)).doc;
    const found = await this.policies.get(DEFAULT_POLICY, DEFAULT_POLICY);
    if (found) return found.doc;
    try {
      return (await this.create({ name: DEFAULT_POLICY, ...policyFields.parse({}) })).doc;
    } catch (e) {
      if (e instanceof HavenError && e.kind === 'conflict')
        return (await this.get(DEFAULT_POLICY)).doc;
      throw e;
    }
  }
}
