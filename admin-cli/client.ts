/** A problem+json reply (or a transport failure) as one printable error. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly problem?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiReply {
  status: number;
  etag?: string;
  body: unknown;
}

/** Minimal admin API client: JSON in, JSON out, function key header, problem+json → ApiError. */
export class AdminClient {
  private readonly base: string;
  constructor(
    apiUrl: string,
    private readonly key: string | undefined,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    const trimmed = apiUrl.replace(/\/+$/, '');
    this.base = trimmed.endsWith('/api') ? trimmed : `${trimmed}/api`;
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiReply> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}/${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(this.key ? { 'x-functions-key': this.key } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ApiError(`Cannot reach the Haven API at ${this.base} (${cause}).`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const p = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
      const title = typeof p.title === 'string' ? p.title : `HTTP ${res.status}`;
      const detail = typeof p.detail === 'string' ? p.detail : res.statusText;
      throw new ApiError(`${title}: ${detail}`, res.status, p);
    }
    return { status: res.status, etag: res.headers.get('etag') ?? undefined, body: parsed };
  }

  /** Follows continuation tokens to collect every item of a list endpoint. */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let continuation: string | undefined;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const q = continuation ? `${sep}continuation=${encodeURIComponent(continuation)}` : '';
      const page = (await this.request('GET', `${path}${q}`)).body as {
        items: T[];
        continuation?: string;
      };
      items.push(...page.items);
      continuation = page.continuation;
    } while (continuation);
    return items;
  }
}
