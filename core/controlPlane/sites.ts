import type { DocumentStore, Page } from '../documents/ports';
import { notFound } from '../errors';
import { collectionsDefs, type SiteDoc } from './model';
import type { CreateSiteBody } from './schemas';

/** Sites: on-premises locations machines enroll into. The id is the (unique) name. */
export class Sites {
  private readonly sites;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.sites = documents.collection<SiteDoc>(collectionsDefs.sites);
  }

  async create(body: CreateSiteBody): Promise<SiteDoc> {
    const doc: SiteDoc = {
      id: body.name,
      name: body.name,
      ...(body.description !== undefined ? { description: body.description } : {}),
      createdAt: new Date(this.clock()).toISOString(),
    };
    return (await this.sites.create(doc)).doc;
  }

  async get(id: string): Promise<SiteDoc> {
    const found = await this.sites.get(id, id);
    if (!found) throw notFound('Site', id);
    return found.doc;
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<Page<SiteDoc>> {
    return this.sites.query({ ...page });
  }
}
