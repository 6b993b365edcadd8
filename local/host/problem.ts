import type { ServerResponse } from 'node:http';

const titles: Record<number, [string, string]> = {
  400: ['validation', 'Bad request'],
  401: ['unauthenticated', 'Unauthenticated'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  413: ['too-large', 'Payload too large'],
  500: ['internal', 'Internal error'],
  503: ['transient', 'Service unavailable'],
};

/** Host-generated errors use the project's problem+json shape. */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const [kind, title] = titles[status] ?? ['internal', 'Error'];
  const body = JSON.stringify({
    type: `https://haven.dev/problems/${kind}`,
    title,
    status,
    detail,
  });
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
