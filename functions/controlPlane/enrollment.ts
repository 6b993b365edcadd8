import { register } from './api';
import { enrollmentResponse } from './responseSchemas';
import { handler } from '../http/handler';
import { parseBody } from '../http/body';
import { enrollBody } from '../../core/controlPlane/schemas';

export const enroll = register(
  {
    name: 'enroll',
    method: 'POST',
    route: 'enroll',
    caller: 'anonymous',
    tag: 'enrollment',
    summary: 'Enroll a machine with a one-time token; returns its credential and data key once',
    body: enrollBody,
    response: enrollmentResponse,
    responses: { 201: 'Machine enrolled' },
  },
  handler(async (root, req) => {
    const body = await parseBody(req, enrollBody, root.config.maxBodyBytes);
    const enrolled = await root.controlPlane.enrollment.enroll(body);
    return {
      status: 201,
      headers: { location: `/api/machines/${enrolled.machineId}`, 'cache-control': 'no-store' },
      jsonBody: enrolled,
    };
  }),
);
