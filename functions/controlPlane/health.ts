import { register } from './api';
import { healthResponse } from './responseSchemas';
import { rootInstance } from '../../app/root';
import { problemResponse } from '../http/problem';
import { checkHealth } from '../../core/controlPlane/health';

// Not wrapped in `handler`: health must answer even when the store is not ready.
export const health = register(
  {
    name: 'health',
    method: 'GET',
    route: 'health',
    caller: 'anonymous',
    tag: 'operations',
    summary: 'Status and latency of each dependency (Cosmos, storage, Event Hubs if configured)',
    response: healthResponse,
    responses: { 200: 'All dependencies healthy', 503: 'At least one dependency failed' },
    errorsUseResponse: true,
  },
  async (_req, context) => {
    try {
      const root = rootInstance();
      const report = await checkHealth(root.controlPlane.probes, { now: root.clock });
      return {
        status: report.status === 'ok' ? 200 : 503,
        headers: { 'cache-control': 'no-store' },
        jsonBody: report,
      };
    } catch (e) {
      return problemResponse(e, context);
    }
  },
);
