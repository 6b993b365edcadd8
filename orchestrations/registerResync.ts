import * as df from 'durable-functions';
import type { ActivityHandler } from 'durable-functions';
import { resyncActivities } from './activities/resyncActivities';
import type { ActivityWrapper } from './registerEnableProtection';
import { RESYNC, resyncOrchestrator } from './resync';

/** Registers the resync saga and its own activities (it reuses enable-protection's replica ones). */
export function registerResync(wrap: ActivityWrapper = (_n, h) => h): void {
  df.app.orchestration(RESYNC, resyncOrchestrator);
  for (const [name, handler] of Object.entries(resyncActivities)) {
    df.app.activity(name, { handler: wrap(name, handler) as unknown as ActivityHandler });
  }
}
