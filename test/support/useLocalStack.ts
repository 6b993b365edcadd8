import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { stopLocalArmVms } from '../../local/arm/localArm';
import { startStack, type StackInfo, type StackProc } from './localStack';
import { sharedLocalStack } from './stack';

/**
 * For the enclosing suite: a temp dir (removed afterwards) and this worker's shared local stack
 * (sharedLocalStack). The fields are set once beforeAll has run; read them inside tests.
 */
export function useSharedLocalStack(prefix: string): { dir: string; stack: StackInfo } {
  const env = {} as { dir: string; stack: StackInfo };
  beforeAll(async () => {
    env.dir = mkdtempSync(path.join(tmpdir(), prefix));
    env.stack = await sharedLocalStack();
  }, 300_000);
  afterAll(() => {
    if (env.dir) rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}

/**
 * For a suite that stops, kills or restarts the stack: its own (startStack, state under the
 * temp dir), stopped afterwards. A test that restarts it assigns the new one to `env.stack`.
 */
export function useOwnLocalStack(
  prefix: string,
  /** App settings the stack starts with. */
  settings?: Record<string, string>,
): { dir: string; stack: StackProc } {
  const env = {} as { dir: string; stack: StackProc };
  beforeAll(async () => {
    env.dir = mkdtempSync(path.join(tmpdir(), prefix));
    env.stack = await startStack(path.join(env.dir, 'stack'), undefined, settings);
  }, 300_000);
  afterAll(async () => {
    await env.stack?.stop();
    // Its guests outlive it by design (a restart adopts them); this directory is going away.
    if (env.stack) await stopLocalArmVms(env.stack.stateDir);
    if (env.dir) rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}
