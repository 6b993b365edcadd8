/**
 * ASP.NET-style route templates as Azure Functions accepts them: literals, `{id}`, `{id?}`,
 * `{*rest}`, defaults `{id=1}` and constraints `{id:int}`, `{x:regex(...)}` (a few are
 * checked, unknown ones are ignored). Literals match case-insensitively.
 */
export interface CompiledRoute {
  template: string;
  regex: RegExp;
  names: string[];
  constraints: (string | undefined)[];
  defaults: (string | undefined)[];
  /** Per-segment rank used to order routes: lower is more specific. */
  rank: number[];
}

interface Param {
  name: string;
  constraint?: string;
  def?: string;
  optional: boolean;
  catchAll: boolean;
}

type Part = string | Param;

function parseSegment(seg: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  for (let i = 0; i < seg.length; i++) {
    if (seg[i] === '{' && seg[i + 1] === '{') {
      lit += '{';
      i++;
      continue;
    }
    if (seg[i] !== '{') {
      lit += seg[i];
      continue;
    }
    let depth = 1;
    let j = i + 1;
    while (j < seg.length && depth > 0) {
      if (seg[j] === '{') depth++;
      else if (seg[j] === '}') depth--;
      j++;
    }
    const body = seg.slice(i + 1, j - 1);
    if (lit) parts.push(lit);
    lit = '';
    parts.push(parseParam(body));
    i = j - 1;
  }
  if (lit) parts.push(lit);
  return parts;
}

function parseParam(body: string): Param {
  const m = /^(\*{0,2})([^:=?]+)(.*)$/s.exec(body);
  if (!m) return { name: body, optional: false, catchAll: false };
  let rest = m[3] ?? '';
  let optional = false;
  let def: string | undefined;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  const eq = rest.lastIndexOf('=');
  if (eq >= 0 && !rest.slice(eq).includes(')')) {
    def = rest.slice(eq + 1);
    rest = rest.slice(0, eq);
  }
  const constraint = rest.startsWith(':') ? rest.slice(1) : undefined;
  return { name: m[2]!.trim(), constraint, def, optional, catchAll: m[1]!.length > 0 };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compileRoute(template: string): CompiledRoute {
  const segs = template
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((s) => s.length > 0);
  const names: string[] = [];
  const constraints: (string | undefined)[] = [];
  const defaults: (string | undefined)[] = [];
  const rank: number[] = [];
  let re = '';
  segs.forEach((seg, i) => {
    const parts = parseSegment(seg);
    const sep = i === 0 ? '' : '/';
    const only = parts.length === 1 && typeof parts[0] !== 'string' ? parts[0] : undefined;
    if (only) {
      names.push(only.name);
      constraints.push(only.constraint);
      defaults.push(only.def);
      if (only.catchAll) {
        re += i === 0 ? '(.*)' : '(?:/(.*))?';
        rank.push(4);
      } else if (only.optional || only.def !== undefined) {
        re += i === 0 ? '([^/]*)' : '(?:/([^/]+))?';
        rank.push(3);
      } else {
        re += `${sep}([^/]+)`;
        rank.push(only.constraint ? 1 : 2);
      }
      return;
    }
    re += sep;
    let literalOnly = true;
    for (const p of parts) {
      if (typeof p === 'string') {
        re += escape(p);
      } else {
        literalOnly = false;
        names.push(p.name);
        constraints.push(p.constraint);
        defaults.push(p.def);
        re += p.catchAll ? '(.*)' : p.optional ? '([^/]*?)' : '([^/]+?)';
      }
    }
    rank.push(literalOnly ? 0 : 1);
  });
  return { template, regex: new RegExp(`^${re}/?$`, 'i'), names, constraints, defaults, rank };
}

function satisfies(value: string, constraint: string | undefined): boolean {
  if (!constraint) return true;
  for (const c of constraint.split(/:(?![^(]*\))/)) {
    const m = /^(\w+)(?:\((.*)\))?$/s.exec(c);
    if (!m) continue;
    const [, kind, arg] = m;
    const n = Number(arg);
    switch (kind!.toLowerCase()) {
      case 'int':
      case 'long':
        if (!/^-?\d+$/.test(value)) return false;
        break;
      case 'bool':
        if (!/^(true|false)$/i.test(value)) return false;
        break;
      case 'guid':
        if (!/^[\da-f]{8}-?[\da-f]{4}-?[\da-f]{4}-?[\da-f]{4}-?[\da-f]{12}$/i.test(value))
          return false;
        break;
      case 'alpha':
        if (!/^[a-z]*$/i.test(value)) return false;
        break;
      case 'minlength':
        if (value.length < n) return false;
        break;
      case 'maxlength':
        if (value.length > n) return false;
        break;
      case 'regex':
        try {
          const pattern = (arg ?? '').replace(/\{\{/g, '{').replace(/\}\}/g, '}');
          if (!new RegExp(pattern, 'i').test(value)) return false;
        } catch {
          // An invalid pattern is ignored rather than failing every request.
        }
        break;
      default:
        break;
    }
  }
  return true;
}

/** Params of `path` (no leading slash, no query) if it matches, else undefined. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const m = route.regex.exec(path.replace(/^\/+/, ''));
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.names.length; i++) {
    const raw = m[i + 1];
    if (raw === undefined || raw === '') {
      const def = route.defaults[i];
      if (def !== undefined) params[route.names[i]!] = def;
      continue;
    }
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      value = raw;
    }
    if (!satisfies(value, route.constraints[i])) return undefined;
    params[route.names[i]!] = value;
  }
  return params;
}

/** Orders routes so literals win over parameters and catch-alls come last. */
export function compareRoutes(a: CompiledRoute, b: CompiledRoute): number {
  for (let i = 0; i < Math.min(a.rank.length, b.rank.length); i++) {
    if (a.rank[i] !== b.rank[i]) return a.rank[i]! - b.rank[i]!;
  }
  return b.rank.length - a.rank.length;
}
