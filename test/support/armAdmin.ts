import { request } from 'node:https';
import type { FaultSpec, RecordedCall } from '../../local/arm/faults';

export type { FaultSpec as ArmFault, RecordedCall as ArmCall };

/** Where a local ARM endpoint is and how to reach it: its URL, bearer token and CA (PEM). */
export interface ArmEndpoint {
  endpoint: string;
  token: string;
  ca: string;
}

/**
 * The local ARM endpoint's fault-injection admin API (`/haven/admin/…`, same bearer token as
 * ARM calls), over HTTPS like any other client, so it works on an endpoint in another process
 * (a stack) as well as in this one: arm a fault (the Nth or every call of `METHOD type[/action]`
 * fails at once, fails as an operation, or is slow), clear them, list the calls received.
 */
export function armAdmin(e: ArmEndpoint) {
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(new URL(path, e.endpoint), {
        method,
        ca: e.ca,
        headers: { authorization: `Bearer ${e.token}`, 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return {
    async fault(f: FaultSpec): Promise<void> {
      const res = await call('POST', '/haven/admin/faults', f);
      if (res.status !== 201) throw new Error(`fault not armed: HTTP ${res.status} ${res.text}`);
    },
    /** Clears the faults and the call log. */
    async clear(): Promise<void> {
      const res = await call('DELETE', '/haven/admin/faults');
      if (res.status !== 204) throw new Error(`faults not cleared: HTTP ${res.status}`);
    },
    /** The calls received (method, path, query, op, body, answered status), oldest first. */
    async calls(): Promise<RecordedCall[]> {
      const res = await call('GET', '/haven/admin/calls');
      if (res.status !== 200) throw new Error(`calls not listed: HTTP ${res.status}`);
      return (JSON.parse(res.text) as { value: RecordedCall[] }).value;
    },
  };
}
