import { randomBytes, randomUUID } from 'node:crypto';
import { programmingModel, type CoreCallback, type RegistrationSink } from './coreShim';
import { fromRpcHttpResponse, isPlainHttpRequest, toRpcHttpRequest } from './httpRpc';
import type { LoadedApp } from './loadApp';
import type { HostFunction, HostLogger, InvokeInput, InvokeResult } from './plugin';
import { fromRpcTypedData, toRpcTypedData } from './rpcTypedData';

export interface InvokeOptions {
  invocationId?: string;
  /** W3C traceparent of the caller (e.g. an incoming HTTP request); a child span is made. */
  traceParent?: string;
}

export type InvokeOnce = (
  fn: HostFunction,
  input: InvokeInput,
  opts?: InvokeOptions,
) => Promise<InvokeResult>;

const levelOf = (level: string): 'info' | 'warn' | 'error' =>
  level === 'error' || level === 'critical' ? 'error' : level === 'warning' ? 'warn' : 'info';

function childTraceParent(parent?: string): string {
  const m = parent ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-([\da-f]{2})$/.exec(parent) : null;
  const traceId = m ? m[1] : randomBytes(16).toString('hex');
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${m ? m[2] : '01'}`;
}

function activeHooks(sink: RegistrationSink, name: string): CoreCallback[] {
  return sink.hooks.filter((h) => h.name === name && !h.disposed).map((h) => h.callback);
}

/**
 * Runs one invocation the way the Node worker does: getInvocationModel → getArguments →
 * preInvocation hooks → invokeFunction → postInvocation hooks → getResponse, with plain values
 * converted to and from the RPC shapes at the edges.
 */
export function createInvoker(app: LoadedApp, log: HostLogger, appHookData: object): InvokeOnce {
  return async (fn, input, opts = {}) => {
    const model = programmingModel();
    const reg = app.handlers.get(fn.name.toLowerCase());
    if (!model || !reg) throw new Error(`Function ${fn.name} is not registered`);
    const invocationId = opts.invocationId ?? randomUUID();
    const triggerName = String(fn.trigger.name);
    const triggerData =
      /^httptrigger$/i.test(fn.triggerType) && isPlainHttpRequest(input.triggerValue)
        ? toRpcHttpRequest(input.triggerValue)
        : toRpcTypedData(input.triggerValue);
    const inputData = [{ name: triggerName, data: triggerData }];
    for (const [name, value] of Object.entries(input.inputs ?? {})) {
      inputData.push({ name, data: toRpcTypedData(value) });
    }
    const triggerMetadata = Object.fromEntries(
      Object.entries(input.triggerMetadata ?? {}).map(([k, v]) => [k, toRpcTypedData(v)]),
    );
    const logHooks = activeHooks(app.sink, 'log');
    const current: { context?: unknown } = {};
    const coreCtx = {
      invocationId,
      state: undefined as string | undefined,
      metadata: { name: fn.name, bindings: fn.bindings, retryOptions: fn.retry },
      request: {
        invocationId,
        functionId: fn.name,
        inputData,
        triggerMetadata,
        traceContext: {
          traceParent: childTraceParent(opts.traceParent),
          traceState: '',
          attributes: {},
        },
        retryContext: input.retryContext,
      },
      log(level: string, category: string, message: string) {
        const entry = {
          level,
          category,
          message,
          invocationContext: current.context,
          hookData: {},
          appHookData,
        };
        for (const hook of logHooks) {
          try {
            hook(entry);
          } catch {
            // A faulty log hook must not break the invocation.
          }
        }
        log[levelOf(entry.level)](entry.message, { functionName: fn.name, invocationId, category });
      },
    };
    const invocModel = model.getInvocationModel(coreCtx);
    const args = await invocModel.getArguments();
    current.context = args.context;
    const hookData = {};
    const pre = {
      hookData,
      appHookData,
      invocationContext: args.context,
      inputs: args.inputs,
      functionCallback: reg.handler,
    };
    coreCtx.state = 'preInvocationHooks';
    for (const hook of activeHooks(app.sink, 'preInvocation')) await hook(pre);
    coreCtx.state = 'invocation';
    let result: unknown;
    let error: unknown;
    try {
      result = await invocModel.invokeFunction(args.context, pre.inputs, pre.functionCallback);
    } catch (e) {
      error = e;
    }
    const post = {
      hookData,
      appHookData,
      invocationContext: args.context,
      inputs: pre.inputs,
      result,
      error,
    };
    coreCtx.state = 'postInvocationHooks';
    for (const hook of activeHooks(app.sink, 'postInvocation')) await hook(post);
    if (post.error) throw post.error;
    const response = await invocModel.getResponse(args.context, post.result);
    const isHttp = (name: string) => String(fn.bindings[name]?.type).toLowerCase() === 'http';
    const outputs: Record<string, unknown> = {};
    for (const o of response.outputData ?? []) {
      outputs[o.name] = isHttp(o.name) ? fromRpcHttpResponse(o.data) : fromRpcTypedData(o.data);
    }
    const returnValue = isHttp('$return')
      ? fromRpcHttpResponse(response.returnValue)
      : fromRpcTypedData(response.returnValue);
    return { returnValue, outputs };
  };
}
