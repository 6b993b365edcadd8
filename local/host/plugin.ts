import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Contract between the local Functions host and the trigger drivers that plug into it
 * (HTTP, timer, queue, blob in the host itself; Event Hubs and Durable in their own modules).
 * A driver never touches @azure/functions internals: it calls `invoke` with plain values.
 */

/** One function as the app registered it through @azure/functions-core `registerFunction`. */
export interface HostFunction {
  name: string;
  /** Trigger binding type, e.g. 'httpTrigger', 'eventHubTrigger', 'blobTrigger', 'orchestrationTrigger'. */
  triggerType: string;
  /** The trigger binding's options as registered (path, connection, eventHubName, schedule, ...). */
  trigger: Record<string, unknown>;
  /** Every binding by name, with `type` and `direction`. */
  bindings: Record<string, Record<string, unknown>>;
  /** Registration retry options, if any. */
  retry?: Record<string, unknown>;
}

export interface InvokeInput {
  /** The trigger's value: an HTTP request object, a Buffer, a string, JSON, or an array for cardinality many. */
  triggerValue: unknown;
  triggerMetadata?: Record<string, unknown>;
  /** Values for extra input bindings, by binding name (e.g. a durable client payload). */
  inputs?: Record<string, unknown>;
  retryContext?: { retryCount: number; maxRetryCount: number };
}

export interface InvokeResult {
  /** The handler's return value, converted back from the RPC shape. */
  returnValue: unknown;
  /** Extra outputs by binding name. */
  outputs: Record<string, unknown>;
}

export interface HostLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface HostContext {
  /** App settings the functions see (process env + local settings). */
  settings: Record<string, string>;
  /** Directory for the host's durable state (receipts, logs); survives restarts. */
  stateDir: string;
  /** e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  log: HostLogger;
  invoke(functionName: string, input: InvokeInput): Promise<InvokeResult>;
  /**
   * The host is stopping: an invocation that failed now may have had its retries cut short, so
   * a driver must not take it as final (the Event Hubs driver keeps its checkpoint).
   */
  isStopping?(): boolean;
  /** Lets a driver serve extra HTTP paths on the host's port (e.g. /runtime/webhooks/durabletask/). */
  addHttpRoute(
    prefix: string,
    handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  ): void;
}

export interface TriggerDriver {
  /** Trigger binding types this driver runs (lower-case compare). */
  readonly triggerTypes: readonly string[];
  /** Input binding types this driver provides values for (e.g. 'durableClient'). */
  readonly inputTypes?: readonly string[];
  start(functions: HostFunction[], host: HostContext): Promise<void>;
  /** Value for an extra input binding of one of `inputTypes`, computed per invocation. */
  resolveInput?(binding: Record<string, unknown>, fn: HostFunction): unknown;
  stop(): Promise<void>;
}
