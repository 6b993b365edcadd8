import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { BlobServiceClient } from '@azure/storage-blob';
import { mapLimit } from '../../core/mapLimit';
import { ArmError, badRequest } from './armError';

const MiB = 1024 * 1024;
const FOOTER = 512;
const CHUNK = 4 * MiB;

/**
 * A managed disk's `Import` from a page blob of the stack's storage account, refusing what Azure
 * refuses: a blob of another account, a snapshot URI (`?snapshot=`: not documented for Import,
 * so the sagas copy snapshots to a base blob first), no fixed-VHD footer, a virtual size that is
 * not a whole MiB. Only the blob's written page ranges are read, so a sparse replica imports in
 * time proportional to its data, as Azure's import does.
 */
export async function importVhd(opts: {
  storageConnection?: string;
  sourceUri: string;
  storageAccountId?: string;
  diskName: string;
  file: string;
}): Promise<number> {
  if (!opts.storageAccountId) {
    throw badRequest(
      'InvalidParameter',
      "Required parameter 'storageAccountId' is missing (null).",
    );
  }
  if (!opts.storageConnection)
    throw new ArmError(
      500,
      'InternalOperationError',
      'The local endpoint has no storage account configured.',
    );
  const service = BlobServiceClient.fromConnectionString(opts.storageConnection);
  const account = service.accountName;
  if (
    !opts.storageAccountId
      .toLowerCase()
      .endsWith(`/providers/microsoft.storage/storageaccounts/${account.toLowerCase()}`)
  ) {
    throw badRequest(
      'StorageAccountNotFound',
      `Storage account '${opts.storageAccountId.split('/').pop()}' was not found.`,
    );
  }
  let url: URL;
  try {
    url = new URL(opts.sourceUri);
  } catch {
    throw badRequest('InvalidParameter', `The sourceUri '${opts.sourceUri}' is not a valid URI.`);
  }
  if (url.searchParams.has('snapshot')) {
    throw badRequest(
      'InvalidParameter',
      'Importing from a blob snapshot URI is not supported; copy the snapshot to a base blob first.',
    );
  }
  const base = new URL(service.url);
  if (url.host !== base.host || !url.pathname.startsWith(base.pathname)) {
    throw badRequest(
      'InvalidParameter',
      `The source blob '${opts.sourceUri}' is not in storage account '${account}'.`,
    );
  }
  const [container, ...blob] = decodeURIComponent(url.pathname.slice(base.pathname.length))
    .split('/')
    .filter(Boolean);
  const page = service.getContainerClient(container ?? '').getPageBlobClient(blob.join('/'));
  const props = await page.getProperties().catch((e: { statusCode?: number }) => {
    if (e.statusCode === 404)
      throw badRequest('InvalidParameter', `The source blob '${opts.sourceUri}' does not exist.`);
    throw e;
  });
  const size = props.contentLength ?? 0;
  if (props.blobType !== 'PageBlob' || size < FOOTER + MiB) {
    throw badRequest('BadRequest', 'Only blobs formatted as VHDs can be imported.');
  }
  const footer = await page.downloadToBuffer(size - FOOTER, FOOTER);
  if (footer.toString('ascii', 0, 8) !== 'conectix') {
    throw badRequest(
      'InvalidVhd',
      `The specified cookie value in VHD footer indicates that disk '${opts.diskName}' with blob ${opts.sourceUri} is not a supported VHD. Disk is expected to have cookie value 'conectix'.`,
    );
  }
  if (footer.readUInt32BE(60) !== 2) {
    throw badRequest(
      'InvalidVhd',
      `The VHD ${opts.sourceUri} is not a fixed VHD; only fixed VHDs can be imported.`,
    );
  }
  const virtual = size - FOOTER;
  if (virtual % MiB !== 0 || Number(footer.readBigUInt64BE(48)) !== virtual) {
    throw badRequest(
      'BadRequest',
      `The VHD ${opts.sourceUri} has an unsupported virtual size of ${virtual} bytes. The size must be a whole number (in MBs).`,
    );
  }
  const pieces: { offset: number; count: number }[] = [];
  for await (const range of page.listPageRanges(0, virtual)) {
    if (range.isClear) continue;
    const end = Math.min(range.end, virtual - 1);
    for (let o = range.start; o <= end; o += CHUNK) {
      pieces.push({ offset: o, count: Math.min(CHUNK, end + 1 - o) });
    }
  }
  const fd = openSync(opts.file, 'w', 0o600);
  try {
    ftruncateSync(fd, virtual);
    await mapLimit(pieces, 4, async (p) => {
      const data = await page.downloadToBuffer(p.offset, p.count);
      writeSync(fd, data, 0, data.length, p.offset);
    });
  } finally {
    closeSync(fd);
  }
  return virtual;
}
