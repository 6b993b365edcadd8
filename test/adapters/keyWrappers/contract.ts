import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyWrapper } from '../../../core/controlPlane/machineKeys';

const aad = (machineId: string, keyId: string) =>
  Buffer.from(`haven-data-key|${machineId}|${keyId}`);

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'unwrapped',
    (e: unknown) => (e as { kind?: string }).kind ?? String(e),
  );

export interface KeyWrapperUnderTest {
  wrapper: KeyWrapper;
  /**
   * Makes a new KEK version current (a key rotated in Key Vault) and returns a wrapper as a
   * restarted app would build it; absent where the KEK has no versions (HAVEN_KEK).
   */
  rotate?: () => Promise<KeyWrapper>;
}

/** One suite, every implementation of the KeyWrapper port (docs/conventions.md: contract tests). */
export function keyWrapperContract(label: string, make: () => Promise<KeyWrapperUnderTest>): void {
  describe(`KeyWrapper contract: ${label}`, () => {
    it('round-trips a data key bound to its machine and key id, fresh each time', async () => {
      const { wrapper } = await make();
      const key = randomBytes(32);
      const a = await wrapper.wrap(key, aad('m1', 'k1'));
      const b = await wrapper.wrap(key, aad('m1', 'k1'));
      expect(a.equals(b)).toBe(false); // randomized: equal keys are not visible as equal
      expect(a.includes(key)).toBe(false);
      expect((await wrapper.unwrap(a, aad('m1', 'k1'))).equals(key)).toBe(true);
      expect(wrapper.kekId).not.toBe('');
    });

    it('refuses a wrapped key presented for another machine or key id (integrity)', async () => {
      const { wrapper } = await make();
      const wrapped = await wrapper.wrap(randomBytes(32), aad('m1', 'k1'));
      expect(await refusal(wrapper.unwrap(wrapped, aad('m2', 'k1')))).toBe('integrity');
      expect(await refusal(wrapper.unwrap(wrapped, aad('m1', 'k2')))).toBe('integrity');
    });

    it('refuses tampered or truncated bytes (integrity)', async () => {
      const { wrapper } = await make();
      const wrapped = await wrapper.wrap(randomBytes(32), aad('m1', 'k1'));
      for (const at of [0, Math.floor(wrapped.length / 2), wrapped.length - 1]) {
        const bad = Buffer.from(wrapped);
        bad[at] = bad[at]! ^ 0x01;
        expect(await refusal(wrapper.unwrap(bad, aad('m1', 'k1'))), `byte ${at}`).toBe('integrity');
      }
      expect(await refusal(wrapper.unwrap(wrapped.subarray(0, 8), aad('m1', 'k1')))).toBe(
        'integrity',
      );
    });

    it('after the KEK is rotated, old wraps still unwrap and new ones use the new version', async () => {
      const { wrapper, rotate } = await make();
      if (!rotate) {
        // HAVEN_KEK has no versions: a new KEK is a new wrapper with a kekId of its own.
        expect(wrapper.kekId).toBe('local-aes');
        return;
      }
      const key = randomBytes(32);
      const old = await wrapper.wrap(key, aad('m1', 'k1'));
      const after = await rotate();
      expect(after.kekId).toBe(wrapper.kekId); // the same vault key, a new version
      expect((await after.unwrap(old, aad('m1', 'k1'))).equals(key)).toBe(true);
      const fresh = await after.wrap(key, aad('m1', 'k2'));
      expect((await after.unwrap(fresh, aad('m1', 'k2'))).equals(key)).toBe(true);
      expect((await wrapper.unwrap(fresh, aad('m1', 'k2'))).equals(key)).toBe(true);
    });
  });
}
