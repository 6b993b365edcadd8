import { randomUUID } from 'node:crypto';
import type { HostJson } from './hostJson';
import type { InvokeOnce } from './invoker';
import { writeOutputBindings } from './outputBindings';
import type { HostFunction, HostLogger, InvokeInput, InvokeResult, TriggerDriver } from './plugin';
import { lastAttempt, retryDelayMs, retryPolicyFor } from './retryPolicy';
import { durationMs } from './timeSpan';

export interface HostInvokeDeps {
  functions: HostFunction[];
  drivers: TriggerDriver[];
  hostJson: HostJson;
  settings: Record<string, string>;
  log: HostLogger;
  invokeOnce: InvokeOnce;
  /** Every running invocation, so a stop can wait for them. */
  inFlight: Set<Promise<unknown>>;
  isStopping(): boolean;
}

/** Durable functions manage their own failures and timeouts. */
const durable = /^(orchestrationtrigger|entitytrigger|activitytrigger)$/i;

/** Waits `ms`, or less once the host is stopping (a retry's back-off must not hold a stop). */
async function untilStopping(ms: number, stopping: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!stopping() && Date.now() < end)
    await new Promise((r) => setTimeout(r, Math.min(100, end - Date.now())));
}

export class FunctionTimeoutError extends Error {
  constructor(name: string, ms: number) {
    super(`Function '${name}' timed out after ${ms} ms (host.json functionTimeout)`);
    this.name = 'FunctionTimeoutError';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  if (!Number.isFinite(ms) || ms <= 0) return p;
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new FunctionTimeoutError(name, ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Values of the function's extra input bindings that drivers provide (e.g. the durable client). */
export async function resolveDriverInputs(
  fn: HostFunction,
  drivers: TriggerDriver[],
): Promise<Record<string, unknown>> {
  const inputs: Record<string, unknown> = {};
  for (const [bname, b] of Object.entries(fn.bindings)) {
    if (b.direction !== 'in' || /trigger$/i.test(String(b.type))) continue;
    const type = String(b.type).toLowerCase();
    const d = drivers.find((x) => x.inputTypes?.some((t) => t.toLowerCase() === type));
    if (d?.resolveInput) inputs[bname] = await d.resolveInput(b, fn);
  }
  return inputs;
}

/**
 * `HostContext.invoke`: resolves driver-provided inputs, runs the invocation with the
 * function's (or host.json's) retry policy and functionTimeout, writes storage output bindings,
 * and logs each execution with its invocation id like the Functions host does.
 */
export function createHostInvoke(deps: HostInvokeDeps) {
  const timeoutMs = durationMs(deps.hostJson.functionTimeout, 0);

  return async function invoke(name: string, input: InvokeInput): Promise<InvokeResult> {
    const fn = deps.functions.find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (!fn) throw new Error(`No function named '${name}'`);
    const inputs = await resolveDriverInputs(fn, deps.drivers);
    Object.assign(inputs, input.inputs);
    const policy = input.retryContext ? undefined : retryPolicyFor(fn, deps.hostJson);
    const limit = durable.test(fn.triggerType) ? 0 : timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const invocationId = randomUUID();
      const retryContext =
        input.retryContext ??
        (policy ? { retryCount: attempt, maxRetryCount: policy.maxRetryCount } : undefined);
      const started = Date.now();
      const run = withTimeout(
        deps.invokeOnce(fn, { ...input, inputs, retryContext }, { invocationId }),
        limit,
        fn.name,
      );
      deps.inFlight.add(run);
      try {
        const result = await run;
        await writeOutputBindings(fn, result.outputs, input.triggerMetadata ?? {}, deps.settings);
        if (!durable.test(fn.triggerType)) {
          deps.log.info(`Executed '${fn.name}' (Succeeded, ${Date.now() - started} ms)`, {
            invocationId,
          });
        }
        return result;
      } catch (e) {
        const last = !policy || lastAttempt(policy, attempt) || deps.isStopping();
        const of = policy
          ? ` (attempt ${attempt + 1} of ${policy.maxRetryCount < 0 ? 'unlimited' : policy.maxRetryCount + 1})`
          : '';
        deps.log.error(`Executed '${fn.name}' (Failed${of}): ${(e as Error)?.stack ?? e}`, {
          functionName: fn.name,
          invocationId,
        });
        if (last) throw e;
        await untilStopping(retryDelayMs(policy, attempt + 1), deps.isStopping);
        if (deps.isStopping()) throw e;
      } finally {
        deps.inFlight.delete(run);
      }
    }
  };
}
