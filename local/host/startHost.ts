import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createAdminRoutes } from './adminRoutes';
import { builtInDrivers } from './builtInDrivers';
import { createConsoleLogger } from './consoleLogger';
import { programmingModel, type CoreCallback } from './coreShim';
import { readHostJson, routePrefix } from './hostJson';
import { isAuthorized, presentedKey } from './hostKeys';
import { createHttpTrigger } from './httpTrigger';
import { createHostInvoke, resolveDriverInputs } from './hostInvoke';
import { createInvoker } from './invoker';
import { writeOutputBindings } from './outputBindings';
import { loadApp, type LoadedApp } from './loadApp';
import type { HostContext, HostFunction, HostLogger, TriggerDriver } from './plugin';
import { sendProblem } from './problem';

export interface HostOptions {
  /** Modules to load, e.g. `functions/index.ts` (source) or `dist/functions/index.js`. */
  entry: string[];
  /** 0 = a free port. */
  port?: number;
  /** Bind address, default 127.0.0.1. */
  hostname?: string;
  /** App settings; merged over process.env and exported to it (the app reads process.env). */
  settings?: Record<string, string>;
  stateDir: string;
  masterKey: string;
  /** Function keys by function name; `default` is valid for every function. */
  functionKeys?: Record<string, string>;
  /** Default: ./host.json when it exists. */
  hostJsonPath?: string;
  /** Extra trigger drivers (Event Hubs, Durable); they win over built-ins for their types. */
  drivers?: TriggerDriver[];
  log?: HostLogger;
  /** Host-level request body limit (413 above it). Default FUNCTIONS_REQUEST_BODY_SIZE_LIMIT or 100 MiB. */
  maxRequestBodyBytes?: number;
  blobPollIntervalMs?: number;
  queueMaxPollIntervalMs?: number;
}

export interface RunningHost {
  /** e.g. http://127.0.0.1:7071 (functions are under `${baseUrl}/api`). */
  baseUrl: string;
  functions: HostFunction[];
  context: HostContext;
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly hostname: string,
  ) {
    super(`Port ${port} on ${hostname} is already in use.`);
    this.name = 'PortInUseError';
  }
}

type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
type PathHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a local Azure Functions host for the app in `entry`. */
export async function startHost(opts: HostOptions): Promise<RunningHost> {
  const log = opts.log ?? createConsoleLogger();
  const hostname = opts.hostname ?? '127.0.0.1';
  const stateDir = resolve(opts.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const hostJson = readHostJson(opts.hostJsonPath ?? resolve('host.json'));
  const keys = { masterKey: opts.masterKey, functionKeys: opts.functionKeys };
  const driverRoutes: { prefix: string; handler: RouteHandler }[] = [];
  // Filled once the app is loaded; until then requests get 503.
  const ready: { functions?: PathHandler; admin?: PathHandler } = {};
  let stopping = false;
  const inFlight = new Set<Promise<unknown>>();

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? hostname}`);
    void dispatch(req, res, url).catch((e) => {
      log.error(`Request ${req.method} ${url.pathname} failed: ${(e as Error)?.stack ?? e}`);
      sendProblem(res, 500, 'The host failed to process the request.');
    });
  });
  server.requestTimeout = 0;

  async function dispatch(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = driverRoutes
      .filter((r) => url.pathname.startsWith(r.prefix))
      .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    const isAdmin = url.pathname === '/admin' || url.pathname.startsWith('/admin/');
    if (isAdmin && !isAuthorized('admin', presentedKey(req, url), keys)) {
      req.resume();
      sendProblem(res, 401, 'The master key is required for the admin API.');
      return;
    }
    if (route) return void (await route.handler(req, res));
    if (!ready.functions || !ready.admin) {
      req.resume();
      sendProblem(res, 503, 'The host is starting.', { 'retry-after': '1' });
      return;
    }
    if (isAdmin && (await ready.admin(req, res, url))) return;
    if (await ready.functions(req, res, url)) return;
    if (url.pathname === '/' && req.method === 'GET') {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end('Haven local Functions host is running.\n');
      return;
    }
    req.resume();
    sendProblem(res, 404, `Nothing is served at ${url.pathname}.`);
  }

  const port = await new Promise<number>((resolvePort, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new PortInUseError(opts.port ?? 0, hostname) : e),
    );
    server.listen(opts.port ?? 0, hostname, () =>
      resolvePort((server.address() as AddressInfo).port),
    );
  });
  const baseUrl = `http://${hostname}:${port}`;

  const settings: Record<string, string> = {
    ...(Object.fromEntries(
      Object.entries(process.env).filter(([, v]) => v !== undefined),
    ) as Record<string, string>),
    WEBSITE_HOSTNAME: `${hostname}:${port}`,
    FUNCTIONS_WORKER_RUNTIME: 'node',
    ...opts.settings,
  };
  // The app reads process.env; what this host exported goes again at stop, so a later host in
  // this process (benches, tests restarting a stack) never inherits this one's settings (its
  // stopped emulators' endpoints, a Key Vault that is gone).
  const envBefore = new Map(Object.keys(settings).map((k) => [k, process.env[k]]));
  Object.assign(process.env, settings);
  const restoreEnv = () => {
    for (const [k, v] of envBefore) {
      if (process.env[k] !== settings[k]) continue; // set again since by someone else
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };

  let app: LoadedApp;
  try {
    app = loadApp(opts.entry, {
      functions: [],
      hooks: [],
      log: (level, category, message) =>
        level === 'error'
          ? log.error(message, { category })
          : level === 'warning'
            ? log.warn(message, { category })
            : undefined,
    });
  } catch (e) {
    server.close();
    throw e;
  }
  const functions = app.functions;
  const model = programmingModel();
  const capabilities = model?.getCapabilities ? await model.getCapabilities({}) : {};
  const appHookData: Record<string, unknown> = {};
  for (const h of app.sink.hooks.filter((x) => x.name === 'appStart' && !x.disposed)) {
    await (h.callback as CoreCallback)({
      hookData: appHookData,
      appHookData,
      functionAppDirectory: process.cwd(),
    });
  }
  const invokeOnce = createInvoker(app, log, appHookData);
  const allDrivers = [
    ...(opts.drivers ?? []),
    ...builtInDrivers({
      hostJson,
      blobPollIntervalMs: opts.blobPollIntervalMs,
      queueMaxPollIntervalMs: opts.queueMaxPollIntervalMs,
    }),
  ];
  const invoke = createHostInvoke({
    functions,
    drivers: allDrivers,
    hostJson,
    settings,
    log,
    invokeOnce,
    inFlight,
    isStopping: () => stopping,
  });

  // HTTP invocations skip retries but get driver inputs (e.g. the durable client) and output
  // bindings, and are tracked for a graceful stop.
  const httpInvoke: typeof invokeOnce = (fn, input, o) => {
    const run = resolveDriverInputs(fn, allDrivers)
      .then((inputs) => invokeOnce(fn, { ...input, inputs: { ...inputs, ...input.inputs } }, o))
      .then(async (result) => {
        const params = (input.triggerValue as { params?: Record<string, string> })?.params ?? {};
        await writeOutputBindings(fn, result.outputs, params, settings);
        return result;
      });
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run)).catch(() => undefined);
    return run;
  };

  const context: HostContext = {
    settings,
    stateDir,
    baseUrl,
    log,
    invoke,
    isStopping: () => stopping,
    addHttpRoute(prefix, handler) {
      driverRoutes.push({ prefix, handler });
    },
  };

  // Route each function to the driver that owns its trigger type (external drivers first).
  const owned = new Map<TriggerDriver, HostFunction[]>();
  for (const fn of functions) {
    if (/^httptrigger$/i.test(fn.triggerType)) continue;
    if (isDisabled(fn.name, settings)) {
      // As in Azure: the trigger does not fire; the admin endpoint can still run it.
      log.info(`Function '${fn.name}' is disabled (AzureWebJobs.${fn.name}.Disabled)`);
      continue;
    }
    const d = allDrivers.find((x) =>
      x.triggerTypes.some((t) => t.toLowerCase() === fn.triggerType.toLowerCase()),
    );
    if (!d) {
      log.warn(
        `No driver for trigger '${fn.triggerType}' of function '${fn.name}'; it will not run.`,
      );
      continue;
    }
    owned.set(d, [...(owned.get(d) ?? []), fn]);
  }
  const started: TriggerDriver[] = [];
  const maxBody =
    opts.maxRequestBodyBytes ??
    (Number(settings.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT) || 100 * 1024 * 1024);

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    for (const d of started.reverse()) {
      await d.stop().catch((e) => log.error(`Driver stop failed: ${(e as Error)?.message ?? e}`));
    }
    await Promise.race([Promise.allSettled([...inFlight]), sleep(10_000)]);
    for (const h of app.sink.hooks.filter((x) => x.name === 'appTerminate' && !x.disposed)) {
      await Promise.resolve(
        (h.callback as CoreCallback)({ hookData: appHookData, appHookData }),
      ).catch(() => undefined);
    }
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    app.unload();
    restoreEnv();
  }

  try {
    for (const d of allDrivers) {
      await d.start(owned.get(d) ?? [], context);
      started.push(d);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  ready.admin = createAdminRoutes(
    () => functions,
    () => context,
  );
  ready.functions = createHttpTrigger({
    functions,
    prefix: routePrefix(hostJson),
    keys,
    maxBodyBytes: maxBody,
    invoke: httpInvoke,
    log,
    streamUri: capabilities.HttpUri,
  });
  log.info(`Host started with ${functions.length} function(s) at ${baseUrl}`, {
    functions: functions.map((f) => `${f.name} (${f.triggerType})`),
  });
  return { baseUrl, functions, context, stop };
}

/** `AzureWebJobs.<name>.Disabled` (or its Linux spelling with `__` or `_`) set to true or 1. */
function isDisabled(name: string, settings: Record<string, string>): boolean {
  const v = ['.', '__', '_']
    .map((sep) => settings[`AzureWebJobs${sep}${name}${sep}Disabled`])
    .find((x) => x !== undefined);
  return v !== undefined && /^(true|1)$/i.test(v.trim());
}
