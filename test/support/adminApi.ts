/** Where the admin HTTP API is and the key it takes (a local stack, in a process or not). */
export interface AdminTarget {
  apiUrl: string;
  env: Record<string, string | undefined>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies checked by the tests
type Json = any;

/** One admin API call (function key) as the admin CLI makes it; any status is returned. */
export async function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json; text: string }> {
  const res = await fetch(`${target.apiUrl}/${path.replace(/^\//, '')}`, {
    method,
    headers: {
      'x-functions-key': target.env.HAVEN_ADMIN_KEY!,
      'content-type': 'application/json',
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** The admin HTTP API (function key), as the admin CLI uses it; throws on any non-2xx. */
export async function adminApi<T = Json>(
  target: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await adminRequest(target, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`);
  return r.json as T;
}

/** A new site and a one-time enrollment token for it. */
export async function enrollmentToken(target: AdminTarget, siteName?: string): Promise<string> {
  const site = await adminApi<{ id: string }>(target, 'POST', 'sites', {
    name: siteName ?? `site-${Math.random().toString(36).slice(2, 8)}`,
  });
  return (
    await adminApi<{ token: string }>(target, 'POST', `sites/${site.id}/enrollment-tokens`, {})
  ).token;
}
