import Module from 'node:module';

/**
 * A process-wide stand-in for `@azure/functions-core`, the module the real Node worker
 * provides. `@azure/functions` requires it lazily and caches it (and its "model set" flag)
 * for the whole process, so there is exactly one shim; registrations are routed to whichever
 * host is loading an app at that moment (`captureRegistrations`).
 */

export type CoreHookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CoreCallback = (...args: any[]) => any;

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, Record<string, unknown> & { type: string; direction?: string }>;
  retryOptions?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface CoreProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: unknown): CoreInvocationModel;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export interface CoreInvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: CoreCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<CoreInvocationResponse>;
}

export interface CoreInvocationResponse {
  invocationId?: string;
  outputData?: { name: string; data: unknown }[];
  returnValue?: unknown;
}

export interface Registration {
  metadata: CoreFunctionMetadata;
  handler: CoreCallback;
}

export interface RegistrationSink {
  functions: Registration[];
  hooks: { name: CoreHookName; callback: CoreCallback; disposed: boolean }[];
  log?(level: string, category: string, message: string): void;
}

class Disposable {
  #fn: (() => unknown) | undefined;
  constructor(fn: () => unknown) {
    this.#fn = fn;
  }
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): unknown {
    const fn = this.#fn;
    this.#fn = undefined;
    return fn?.();
  }
}

let model: CoreProgrammingModel | undefined;
let sink: RegistrationSink | undefined;
let lastSink: RegistrationSink | undefined;
let installed = false;

function currentSink(what: string): RegistrationSink {
  const s = sink ?? lastSink;
  if (!s) throw new Error(`@azure/functions-core: ${what} outside of a host load`);
  return s;
}

const coreApi = {
  version: '3.10.1',
  Disposable,
  setProgrammingModel(m: CoreProgrammingModel): void {
    model = m;
  },
  getProgrammingModel(): CoreProgrammingModel | undefined {
    return model;
  },
  registerFunction(metadata: CoreFunctionMetadata, handler: CoreCallback): Disposable {
    const s = currentSink('registerFunction');
    if (s.functions.some((f) => f.metadata.name.toLowerCase() === metadata.name.toLowerCase())) {
      throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
    }
    const reg = { metadata, handler };
    s.functions.push(reg);
    return new Disposable(() => s.functions.splice(s.functions.indexOf(reg) >>> 0, 1));
  },
  registerHook(name: CoreHookName, callback: CoreCallback): Disposable {
    const s = currentSink('registerHook');
    const hook = { name, callback, disposed: false };
    s.hooks.push(hook);
    return new Disposable(() => (hook.disposed = true));
  },
  log(level: string, category: string, message: string): void {
    (sink ?? lastSink)?.log?.(level, category, message);
  },
};

/** Installs the `Module._load` hook once per process. */
export function installCoreShim(): void {
  if (installed) return;
  installed = true;
  const mod = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const original = mod._load;
  mod._load = function (request: string, ...rest: unknown[]) {
    if (request === '@azure/functions-core') return coreApi;
    return original.call(this, request, ...rest);
  };
}

/** Runs `load` with registrations going to `target`; later late registrations go there too. */
export function captureRegistrations<T>(target: RegistrationSink, load: () => T): T {
  installCoreShim();
  sink = target;
  lastSink = target;
  try {
    return load();
  } finally {
    sink = undefined;
  }
}

export function programmingModel(): CoreProgrammingModel | undefined {
  return model;
}
