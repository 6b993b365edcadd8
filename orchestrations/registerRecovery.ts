import * as df from 'durable-functions';
import type { ActivityHandler, OrchestrationHandler } from 'durable-functions';
import { armActivities } from './activities/armActivities';
import { failbackActivities } from './activities/failbackActivities';
import { failbackEndActivities } from './activities/failbackEndActivities';
import { recoveryActivities } from './activities/recoveryActivities';
import { CANCEL_FAILOVER, cancelFailoverOrchestrator } from './cancelFailover';
import { CHANGE_RECOVERY_POINT, changeRecoveryPointOrchestrator } from './changeRecoveryPoint';
import { COMMIT_FAILBACK, commitFailbackOrchestrator } from './commitFailback';
import { COMMIT_FAILOVER, commitFailoverOrchestrator } from './commitFailover';
import { FAILBACK, failbackOrchestrator } from './failback';
import { FAILOVER, failoverOrchestrator } from './failover';
import { REENABLE, reenableOrchestrator } from './reenable';
import { REPROTECT, reprotectOrchestrator } from './reprotect';
import type { ActivityWrapper } from './registerEnableProtection';
import { TEST_FAILOVER, testFailoverOrchestrator } from './testFailover';
import { TEST_FAILOVER_CLEANUP, testFailoverCleanupOrchestrator } from './testFailoverCleanup';

/** The recovery sagas by registered name (core/recovery/operations.ts maps job types to them). */
export const recoveryOrchestrators: Record<string, OrchestrationHandler> = {
  [TEST_FAILOVER]: testFailoverOrchestrator,
  [TEST_FAILOVER_CLEANUP]: testFailoverCleanupOrchestrator,
  [FAILOVER]: failoverOrchestrator,
  [CHANGE_RECOVERY_POINT]: changeRecoveryPointOrchestrator,
  [COMMIT_FAILOVER]: commitFailoverOrchestrator,
  [CANCEL_FAILOVER]: cancelFailoverOrchestrator,
  [REPROTECT]: reprotectOrchestrator,
  [FAILBACK]: failbackOrchestrator,
  [COMMIT_FAILBACK]: commitFailbackOrchestrator,
  [REENABLE]: reenableOrchestrator,
};

/** Registers the recovery sagas and their activities. */
export function registerRecovery(wrap: ActivityWrapper = (_n, h) => h): void {
  for (const [name, fn] of Object.entries(recoveryOrchestrators)) df.app.orchestration(name, fn);
  for (const [name, handler] of Object.entries({
    ...armActivities,
    ...recoveryActivities,
    ...failbackActivities,
    ...failbackEndActivities,
  })) {
    df.app.activity(name, { handler: wrap(name, handler) as unknown as ActivityHandler });
  }
}
