import { azuriteResolve } from './azuriteModules';

/**
 * Azurite reclaims the extents of overwritten pages and deleted blobs every 10 minutes. The data
 * path overwrites replica pages and deletes claim checks and staged pointers at the churn's rate,
 * so in the full RPO bench (1 GiB disk, 12 minutes, up to 50 MB/s) an in-memory Azurite reached
 * its size limit (half the machine's memory) before its first collection and refused every page
 * write from then on (`MemoryExtentStoreAtSizeLimit`): hydration stopped. In Azure the service
 * reclaims its own space. `HAVEN_AZURITE_GC_INTERVAL_MS` sets the interval (the RPO bench: 30 s);
 * unset, Azurite's default stands.
 */
export function installGcInterval(ms = Number(process.env.HAVEN_AZURITE_GC_INTERVAL_MS)): void {
  if (!Number.isFinite(ms) || ms <= 0) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const constants = require(azuriteResolve('azurite/dist/src/blob/utils/constants')) as {
    DEFAULT_GC_INTERVAL_MS?: number;
  };
  if (typeof constants.DEFAULT_GC_INTERVAL_MS !== 'number') {
    throw new Error('Azurite has no DEFAULT_GC_INTERVAL_MS: review azuriteGcInterval.ts');
  }
  // The blob GC manager reads it as its constructor's default, after this preload ran.
  constants.DEFAULT_GC_INTERVAL_MS = ms;
}
