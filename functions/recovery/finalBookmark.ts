import { z } from 'zod';
import { register } from '../controlPlane/api';
import { callingMachine, handler } from '../http/handler';

const response = z.object({
  request: z
    .object({ id: z.string(), requestedAt: z.string(), done: z.boolean() })
    .nullable()
    .describe('A planned failover wants this final bookmark (done: the point exists)'),
});

export const machineFinalBookmark = register(
  {
    name: 'machineFinalBookmark',
    method: 'GET',
    route: 'machines/{id}/final-bookmark',
    caller: 'machine',
    tag: 'agent',
    summary:
      "A planned failover's final bookmark: the agent holds writes and inserts it (null: none wanted; writes flow)",
    response,
    responses: { 200: 'The request, or null' },
  },
  handler(async (root, req) => {
    const id = await callingMachine(root, req);
    const want = (await root.recovery.records.get(id)).failover?.finalBookmark;
    if (!want) return { jsonBody: { request: null } };
    const status = await root.recovery.points.status(id, want.id);
    return {
      headers: { 'cache-control': 'no-store' },
      jsonBody: { request: { ...want, done: status !== undefined } },
    };
  }),
);
