import { app, type FunctionInput, type HttpMethod } from '@azure/functions';
import type { z } from 'zod';
import type { Handler } from '../http/handler';

/** Who may call an operation: admin (function key), a machine (Bearer credential), anyone. */
export type Caller = 'admin' | 'machine' | 'anonymous';

export interface Operation {
  /** Function name and OpenAPI operationId. */
  name: string;
  method: HttpMethod;
  /** Functions route template (under /api), e.g. `sites/{id}`. */
  route: string;
  caller: Caller;
  summary: string;
  tag: string;
  body?: z.ZodType;
  /** Shape of the success body (all 2xx codes). */
  response?: z.ZodType;
  /** Success status codes and their meaning. */
  responses: Record<number, string>;
  query?: Record<string, string>;
  /** Accepts If-Match / returns ETag. */
  etag?: boolean;
  /** Error statuses listed in `responses` carry `response` rather than a problem (health). */
  errorsUseResponse?: boolean;
  /** Extra input bindings (e.g. the durable client). */
  extraInputs?: FunctionInput[];
}

/** Every control-plane operation, in registration order; the OpenAPI document is built from it. */
export const operations: Operation[] = [];

/** The operation a registered handler serves (contract tests check responses against it). */
export const operationOf = new Map<Handler, Operation>();

/**
 * Registers an HTTP function and records it for the OpenAPI document, so the two agree.
 * Machine and anonymous endpoints are `anonymous` for the host; machines authenticate in-app.
 */
export function register(op: Operation, handler: Handler): Handler {
  operations.push(op);
  operationOf.set(handler, op);
  app.http(op.name, {
    methods: [op.method],
    route: op.route,
    authLevel: op.caller === 'admin' ? 'function' : 'anonymous',
    ...(op.extraInputs ? { extraInputs: op.extraInputs } : {}),
    handler,
  });
  return handler;
}
