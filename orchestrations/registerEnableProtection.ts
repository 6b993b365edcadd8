import * as df from 'durable-functions';
import type { ActivityHandler } from 'durable-functions';
import { enableProtectionActivities } from './activities/enableProtectionActivities';
import { ENABLE_PROTECTION, enableProtectionOrchestrator } from './enableProtection';

export type ActivityFn = (input: never) => Promise<unknown>;
export type ActivityWrapper = (name: string, handler: ActivityFn) => ActivityFn;

/** Registers the enable-protection saga and its activities; `wrap` lets a test app observe each run. */
export function registerEnableProtection(wrap: ActivityWrapper = (_n, h) => h): void {
  df.app.orchestration(ENABLE_PROTECTION, enableProtectionOrchestrator);
  for (const [name, handler] of Object.entries(enableProtectionActivities)) {
    df.app.activity(name, { handler: wrap(name, handler) as unknown as ActivityHandler });
  }
}
