/**
 * Fixed-VHD footer of replica page blobs (Azure imports a page blob as a managed disk only when
 * it ends with one). The implementation lives with the data path that writes it on hydrate
 * (`core/replication/vhdFooter.ts`); the enable-protection saga writes the same deterministic
 * bytes when it creates the replica, so either writer may come first.
 */
import { replicaBlobSize, VHD_FOOTER_BYTES } from '../replication/names';
import { fixedVhdFooter, isVhdFooter, vhdFooterSize } from '../replication/vhdFooter';

export { fixedVhdFooter, isVhdFooter, vhdFooterSize, replicaBlobSize, VHD_FOOTER_BYTES };

/** Footer of the replica of a disk of `diskSize` bytes: virtual size = size rounded up to 1 MiB. */
export function replicaFooter(diskSize: number, identity: string, createdAtMs: number): Buffer {
  return fixedVhdFooter(replicaBlobSize(diskSize) - VHD_FOOTER_BYTES, identity, createdAtMs);
}
