/** Where the admin HTTP API is and the key it takes (a local stack, in a process or not). */
export interface AdminTarget {
  apiUrl: string;
  env: Record<string, string | undefined>;
}

/** The admin HTTP API (function key), as the admin CLI uses it; throws on any non-2xx. */
export async function adminApi<T = any>( // eslint-disable-line @typescript-eslint/no-explicit-any
  stack: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${stack.apiUrl}/${path}`, {
    method,
    headers: { 'x-functions-key': stack.env.HAVEN_ADMIN_KEY!, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
