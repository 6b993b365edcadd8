import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useRoot } from '../../app/root';
import { stopLocalArmVms } from '../../local/arm/localArm';
import { startLocalStack, type LocalStack } from '../../local/stack/startLocalStack';

/**
 * Runs `fn` against a fresh, quiet local stack in its own temp dir; afterwards the stack, its
 * QEMU guests (they outlive their stack by design: a restart adopts them) and the dir go.
 */
export async function withLocalStack<T>(
  prefix: string,
  fn: (stack: LocalStack, work: string) => Promise<T>,
): Promise<T> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const stack = await startLocalStack({
    stateDir: join(work, 'haven'),
    port: 0,
    fresh: true,
    log: { info() {}, warn() {}, error() {} },
  });
  try {
    return await fn(stack, work);
  } finally {
    await stack.stop();
    // Its in-process host cached the root on these emulators; the next bench builds its own.
    useRoot(undefined);
    await stopLocalArmVms(join(work, 'haven'));
    rmSync(work, { recursive: true, force: true });
  }
}
