import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FakeControlPlane } from './fakeControlPlane';
import { tempDir } from './testData';

export interface FakeControlPlaneEnv {
  /** A fresh temp dir, removed after the suite. */
  dir: string;
  /** `<dir>/capture`: where the fake control plane and the agent's capture sink put batches. */
  capture: string;
  cp: FakeControlPlane;
}

/**
 * For the enclosing suite: a temp dir and a started FakeControlPlane (stopped and removed
 * afterwards). The fields are set once beforeAll has run; read them inside tests.
 */
export function useFakeControlPlane(
  prefix: string,
  opts: { pointLag?: number } = {},
): FakeControlPlaneEnv {
  const env = {} as FakeControlPlaneEnv;
  beforeAll(async () => {
    env.dir = await tempDir(prefix);
    env.capture = path.join(env.dir, 'capture');
    env.cp = await new FakeControlPlane(env.capture).start();
    if (opts.pointLag !== undefined) env.cp.pointLag = opts.pointLag;
  }, 180_000);
  afterAll(async () => {
    await env.cp?.stop();
    if (env.dir) await fsp.rm(env.dir, { recursive: true, force: true });
  });
  return env;
}
