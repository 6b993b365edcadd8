import type { HostFunction } from './plugin';
import { compareRoutes, compileRoute, matchRoute, type CompiledRoute } from './routeTemplate';

interface Entry {
  fn: HostFunction;
  route: CompiledRoute;
  methods?: Set<string>;
}

export type RouteMatch =
  | { kind: 'match'; fn: HostFunction; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

/** The HTTP functions' routes, most specific first. */
export class HttpRoutes {
  readonly #entries: Entry[];

  constructor(functions: HostFunction[]) {
    this.#entries = functions
      .filter((f) => /^httptrigger$/i.test(f.triggerType))
      .map((fn) => {
        const methods = fn.trigger.methods as string[] | undefined;
        return {
          fn,
          route: compileRoute(String(fn.trigger.route ?? fn.name)),
          methods: methods?.length ? new Set(methods.map((m) => m.toUpperCase())) : undefined,
        };
      })
      .sort((a, b) => compareRoutes(a.route, b.route));
  }

  /** `path` is relative to the route prefix, without query. */
  match(method: string, path: string): RouteMatch {
    const allow = new Set<string>();
    for (const e of this.#entries) {
      const params = matchRoute(e.route, path);
      if (!params) continue;
      const m = method.toUpperCase();
      if (!e.methods || e.methods.has(m) || (m === 'HEAD' && e.methods.has('GET'))) {
        return { kind: 'match', fn: e.fn, params };
      }
      e.methods.forEach((x) => allow.add(x));
    }
    return allow.size ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
  }
}
