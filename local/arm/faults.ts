/**
 * Fault injection for tests, so that every saga step can be shown to compensate: make the Nth
 * (or every) call of an operation type fail at once (`http`: an ARM error answer), fail as an
 * operation (`lro`: accepted, then the operation ends Failed and the resource provisioningState
 * Failed, as when Azure cannot place a VM), or be slow (`slow`: the operation ends after
 * `delayMs`). Calls are recorded so tests can see what the clients sent.
 *
 * `match` is `METHOD type[/action]` with the type's last segment, e.g. `PUT disks`,
 * `PUT virtualMachines`, `POST virtualMachines/start`, `DELETE networkInterfaces`.
 */
export interface FaultSpec {
  match: string;
  /** 1-based: the nth matching call after the fault was added; absent = every matching call. */
  nth?: number;
  mode: 'http' | 'lro' | 'slow';
  status?: number;
  code?: string;
  message?: string;
  delayMs?: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  /** The query string as sent (`?api-version=…&…`). */
  query: string;
  op: string;
  at: string;
  body?: unknown;
  /** The HTTP status answered (set once the answer is sent). */
  status?: number;
}

interface Armed extends FaultSpec {
  seen: number;
}

export class Faults {
  private armed: Armed[] = [];
  readonly calls: RecordedCall[] = [];

  add(spec: FaultSpec): void {
    if (!/^(GET|PUT|POST|DELETE|PATCH) \S+$/.test(spec.match)) {
      throw new Error(`fault.match must be 'METHOD type[/action]', got '${spec.match}'`);
    }
    if (!['http', 'lro', 'slow'].includes(spec.mode))
      throw new Error(`fault.mode must be http, lro or slow`);
    this.armed.push({ ...spec, seen: 0 });
  }

  clear(): void {
    this.armed = [];
    this.calls.length = 0;
  }

  /** Records the call and returns it with the fault that fires for it, if any. */
  onCall(
    method: string,
    url: URL,
    op: string,
    body: unknown,
  ): { call: RecordedCall; fault?: FaultSpec } {
    const call: RecordedCall = {
      method,
      path: url.pathname,
      query: url.search,
      op,
      at: new Date().toISOString(),
      ...(body !== undefined ? { body } : {}),
    };
    this.calls.push(call);
    if (this.calls.length > 5000) this.calls.splice(0, 1000);
    let fired: FaultSpec | undefined;
    for (const f of this.armed) {
      if (!matches(f.match, op)) continue;
      f.seen++;
      if (!fired && (f.nth === undefined || f.nth === f.seen)) fired = f;
    }
    return { call, ...(fired ? { fault: fired } : {}) };
  }
}

function matches(match: string, op: string): boolean {
  const [m, what] = match.split(' ') as [string, string];
  const [om, otype] = op.split(' ') as [string, string];
  if (m !== om) return false;
  const w = what.toLowerCase();
  const t = otype.toLowerCase();
  return t === w || t.endsWith(`/${w}`);
}
