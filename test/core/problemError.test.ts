import { describe, expect, it } from 'vitest';
import { problemError } from '../../core/problemError';

describe('problemError: a problem+json answer back into a HavenError', () => {
  it('takes the kind its type names, and its detail (else title) as the message', () => {
    const e = problemError(
      400,
      {
        type: 'https://haven.dev/problems/integrity',
        title: 'Integrity check failed',
        detail: 'd',
      },
      'fallback',
    );
    expect([e.kind, e.message, e.details]).toEqual(['integrity', 'd', { status: 400 }]);
    expect(problemError(409, { type: '.../conflict', title: 't' }, 'f').message).toBe('t');
  });

  it('falls back on the HTTP status when the type names no kind', () => {
    const kinds = [401, 403, 404, 409, 429, 500, 503, 400, 422].map(
      (s) => problemError(s, { type: 'https://example.com/other' }, 'f').kind,
    );
    expect(kinds).toEqual([
      'unauthenticated',
      'forbidden',
      'not-found',
      'conflict',
      'transient',
      'transient',
      'transient',
      'validation',
      'validation',
    ]);
  });

  it('uses the fallback message when the answer is not a problem (no body, HTML)', () => {
    const e = problemError(502, undefined, 'GET x failed with HTTP 502.');
    expect([e.kind, e.message, e.retryable]).toEqual([
      'transient',
      'GET x failed with HTTP 502.',
      true,
    ]);
  });
});
