import type { ContainerClient } from '@azure/storage-blob';

export type ReceiptStatus = 'complete' | 'poisoned';

/**
 * Blob trigger receipts, stored like the Functions host stores them: one empty blob per
 * function, blob and ETag in `azure-webjobs-hosts/blobreceipts/{hostId}/{function}/{etag}/
 * {container}/{blob}`. A blob version with a receipt is never delivered again, across restarts.
 */
export class BlobReceipts {
  readonly #done = new Set<string>();

  constructor(
    readonly container: ContainerClient,
    readonly hostId: string,
    readonly functionName: string,
  ) {}

  static key(container: string, name: string, etag: string): string {
    return `${etagPart(etag)}/${container}/${name}`;
  }

  get #prefix(): string {
    return `blobreceipts/${this.hostId}/${this.functionName}/`;
  }

  async load(): Promise<void> {
    await this.container.createIfNotExists();
    for await (const b of this.container.listBlobsFlat({ prefix: this.#prefix })) {
      this.#done.add(b.name.slice(this.#prefix.length));
    }
  }

  has(key: string): boolean {
    return this.#done.has(key);
  }

  async write(key: string, status: ReceiptStatus): Promise<void> {
    await this.container
      .getBlockBlobClient(`${this.#prefix}${key}`)
      .upload('', 0, { metadata: { status, at: new Date().toISOString() } });
    this.#done.add(key);
  }
}

const etagPart = (etag: string) => etag.replace(/"/g, '');
