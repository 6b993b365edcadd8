import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StoredResource } from './armStore';
import { changedRanges, type Range } from './diskFiles';

/**
 * What a managed disk's or snapshot's access URL serves, as Azure's SAS URLs do: the bytes
 * (`Range` requests, 206), and the page ranges (`?comp=pagelist`, Get Page Ranges' XML), with
 * `x-ms-previous-snapshot-url` naming the access URL of an earlier incremental snapshot of the
 * same disk for the ranges that changed since (what Azure calls GetManagedDiskPageRangesDiff).
 */
export function serveDiskAccess(
  req: IncomingMessage,
  res: ServerResponse,
  resource: StoredResource,
  byToken: (token: string) => StoredResource | undefined,
): void {
  const file = resource.local?.file;
  if (!file) return fail(res, 409, 'DiskNotReady', 'The disk has no data yet.');
  const size = statSync(file).size;
  const url = new URL(req.url ?? '/', 'https://local');
  if (url.searchParams.get('comp') === 'pagelist') {
    const prev = req.headers['x-ms-previous-snapshot-url'];
    let base: StoredResource | undefined;
    if (typeof prev === 'string') {
      const token = new URL(prev).searchParams.get('sig') ?? '';
      base = byToken(token);
      if (!base)
        return fail(
          res,
          403,
          'AuthenticationFailed',
          'The previous snapshot URL grants no access.',
        );
      const same = (r: StoredResource) =>
        String(
          (r.properties.creationData as { sourceResourceId?: string }).sourceResourceId,
        ).toLowerCase();
      if (!resource.local?.digests || !base.local?.digests || same(base) !== same(resource)) {
        return fail(
          res,
          400,
          'InvalidPreviousSnapshot',
          'Both must be incremental snapshots of the same disk.',
        );
      }
    }
    if (!resource.local?.digests)
      return fail(
        res,
        400,
        'NotAnIncrementalSnapshot',
        'Page ranges are served for incremental snapshots.',
      );
    return pageList(res, changedRanges(resource.local.digests, size, base?.local?.digests));
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (req.headers.range && !range)
    return fail(res, 416, 'InvalidRange', 'Only a single bytes=a-b range is served.');
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
  if (start > end || start >= size)
    return fail(res, 416, 'InvalidRange', `The range is outside the disk (${size} bytes).`);
  res.writeHead(range ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(end - start + 1),
    'x-ms-blob-content-length': String(size),
    ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  });
  createReadStream(file, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
}

function pageList(res: ServerResponse, ranges: Range[]): void {
  const body =
    '<?xml version="1.0" encoding="utf-8"?><PageList>' +
    ranges
      .map(
        (r) =>
          `<PageRange><Start>${r.offset}</Start><End>${r.offset + r.length - 1}</End></PageRange>`,
      )
      .join('') +
    '</PageList>';
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end(body);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': code });
  res.end(
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}
