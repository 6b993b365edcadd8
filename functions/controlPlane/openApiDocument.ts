import { z } from 'zod';
import type { Operation } from './api';

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', format: 'uri', examples: ['https://haven.dev/problems/validation'] },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          path: { type: 'string' },
          code: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
  },
};

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** OpenAPI 3.1 document built from the registered operations and their zod body schemas. */
export function buildOpenApi(
  operations: readonly Operation[],
  serverUrl = '/api',
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = `/${op.route}`;
    const params = [...op.route.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = Object.entries(op.query ?? {}).map(([name, description]) => ({
      name,
      in: 'query',
      required: false,
      description,
      schema: { type: 'string' },
    }));
    const headers =
      op.etag && op.method !== 'GET' && op.method !== 'POST'
        ? [{ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } }]
        : [];
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(op.responses)) {
      responses[code] =
        Number(code) >= 400 && !op.errorsUseResponse
          ? problem(description)
          : {
              description,
              ...(op.etag ? { headers: { ETag: { schema: { type: 'string' } } } } : {}),
              content: {
                'application/json': {
                  schema: op.response
                    ? z.toJSONSchema(op.response, {
                        target: 'draft-2020-12',
                        io: 'output',
                        unrepresentable: 'any',
                      })
                    : { type: 'object' },
                },
              },
            };
    }
    if (op.body)
      responses['400'] = problem('Malformed JSON or a body that does not match the schema');
    if (op.body) responses['413'] = problem('Body over the size limit');
    if (op.caller !== 'anonymous') responses['401'] = problem('Missing or invalid credentials');
    if (op.caller === 'machine') responses['403'] = problem("Another machine's credential");
    if (params.length) responses['404'] = problem('Unknown resource');
    if (op.etag && op.method === 'PUT') responses['412'] = problem('Stale If-Match');
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.name,
      summary: op.summary,
      tags: [op.tag],
      security:
        op.caller === 'admin'
          ? [{ functionKey: [] }]
          : op.caller === 'machine'
            ? [{ machineCredential: [] }]
            : [],
      parameters: [...params, ...query, ...headers],
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: z.toJSONSchema(op.body, {
                    target: 'draft-2020-12',
                    io: 'input',
                    unrepresentable: 'any',
                  }),
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Haven control plane',
      version: '0.1.0',
      description: 'Disaster recovery for physical and virtual servers.',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        machineCredential: {
          type: 'http',
          scheme: 'bearer',
          description: 'hvm.<machineId>.<secret>',
        },
      },
    },
  };
}
