import type { AgentSettings } from './agentState';
import { runHook } from './hooks';

/**
 * Runs `fn` (which asks for a bookmark) between the freeze and thaw hooks when the bookmark is
 * app-consistent and hooks are configured; the thaw runs even when `fn` fails.
 */
export async function withFreezeHooks<T>(
  settings: AgentSettings,
  app: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  const hooks = settings.hooks;
  if (app && hooks?.preFreeze) await runHook('pre-freeze', hooks.preFreeze, hooks.timeoutSeconds);
  try {
    return await fn();
  } finally {
    if (app && hooks?.postThaw) await runHook('post-thaw', hooks.postThaw, hooks.timeoutSeconds);
  }
}
