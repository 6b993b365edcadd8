import { afterEach, describe, expect, it } from 'vitest';
import { installGcInterval } from '../../../local/stack/azuriteGcInterval';
import { azuriteResolve } from '../../../local/stack/azuriteModules';

/* eslint-disable @typescript-eslint/no-require-imports */
const constants = require(azuriteResolve('azurite/dist/src/blob/utils/constants')) as {
  DEFAULT_GC_INTERVAL_MS: number;
};
const { default: BlobGCManager } = require(
  azuriteResolve('azurite/dist/src/blob/gc/BlobGCManager'),
) as { default: new (...args: unknown[]) => { gcIntervalInMS: number } };
/* eslint-enable @typescript-eslint/no-require-imports */

/** The interval the blob GC manager gets when Azurite's BlobServer builds it (no argument). */
const builtInterval = () =>
  new BlobGCManager({}, {}, {}, () => undefined, { info: () => undefined }).gcIntervalInMS;

describe('Azurite GC interval', () => {
  const original = constants.DEFAULT_GC_INTERVAL_MS;
  afterEach(() => {
    constants.DEFAULT_GC_INTERVAL_MS = original;
  });

  it('is what HAVEN_AZURITE_GC_INTERVAL_MS says, for the GC manager Azurite builds', () => {
    installGcInterval(30_000);
    expect(builtInterval()).toBe(30_000);
  });

  it("is Azurite's own 10 minutes when the variable is unset or not a number", () => {
    installGcInterval(Number(undefined));
    installGcInterval(Number('soon'));
    expect(builtInterval()).toBe(10 * 60 * 1000);
  });
});
