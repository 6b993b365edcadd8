import { getRoot, type Root } from '../../app/root';
import { recoveryDeps, type RecoveryDeps } from './recoveryDeps';

/** What the plan, drill and decision activities need. */
export interface PlanDeps {
  root: Root;
  /** The recovery activities' dependencies (target, probe client, timing): tests replace them. */
  recovery: RecoveryDeps;
  /** The HTTP client of webhook actions. */
  webhookFetch: typeof fetch;
}

let override: (() => Promise<PlanDeps>) | undefined;

/** Tests and benchmarks install their own dependencies; the app uses the composition root. */
export function usePlanDeps(factory: (() => Promise<PlanDeps>) | undefined): void {
  override = factory;
}

export async function planDeps(): Promise<PlanDeps> {
  if (override) return override();
  return { root: await getRoot(), recovery: await recoveryDeps(), webhookFetch: fetch };
}
