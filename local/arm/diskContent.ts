import { closeSync, ftruncateSync, openSync, statSync } from 'node:fs';
import type { ArmContext } from './armContext';
import { badRequest } from './armError';
import { DISK, SNAPSHOT } from './computeTypes';
import { copySparse } from './diskFiles';
import { importVhd } from './vhdImport';

const GiB = 1024 ** 3;

/**
 * How a new managed disk's file gets its bytes, by `creationData.createOption`: Import (a VHD
 * page blob of the storage account), Copy (a disk or snapshot, sparse) or Empty (a sparse file
 * of `diskSizeGB`). The body is checked at once; the returned work fills `file` and answers
 * its size, and runs inside the create operation.
 */
export function diskContent(
  ctx: ArmContext,
  diskName: string,
  cd: Record<string, unknown>,
  p: Record<string, unknown>,
  file: string,
): () => Promise<number> {
  switch (cd.createOption) {
    case 'Import':
      if (typeof cd.sourceUri !== 'string')
        throw badRequest('InvalidParameter', "Required parameter 'sourceUri' is missing (null).");
      if (!cd.storageAccountId)
        throw badRequest(
          'InvalidParameter',
          "Required parameter 'storageAccountId' is missing (null).",
        );
      return () =>
        importVhd({
          storageConnection: ctx.opts.storageConnection,
          sourceUri: cd.sourceUri as string,
          storageAccountId: cd.storageAccountId as string,
          diskName,
          file,
        });
    case 'Copy': {
      const src = ctx.store.get(String(cd.sourceResourceId ?? ''));
      if (!src || (src.type !== DISK && src.type !== SNAPSHOT))
        throw badRequest(
          'InvalidParameter',
          `Source resource '${String(cd.sourceResourceId)}' is not an existing disk or snapshot.`,
        );
      return async () => {
        await copySparse(src.local!.file!, file);
        return statSync(file).size;
      };
    }
    case 'Empty': {
      const gb = Number(p.diskSizeGB);
      if (!Number.isInteger(gb) || gb < 1 || gb > 32767)
        throw badRequest(
          'InvalidParameter',
          'diskSizeGB must be an integer from 1 to 32767 for an empty disk.',
        );
      return async () => {
        const fd = openSync(file, 'w', 0o600);
        ftruncateSync(fd, gb * GiB);
        closeSync(fd);
        return gb * GiB;
      };
    }
    default:
      throw badRequest(
        'InvalidParameter',
        `createOption '${String(cd.createOption)}' is not supported for a disk here (Import, Copy, Empty).`,
      );
  }
}
