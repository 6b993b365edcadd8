import { register } from '../controlPlane/api';
import { durableClientInput } from '../controlPlane/durableLauncher';
import { handler } from '../http/handler';
import {
  commonAlertSchema,
  MAX_ALERT_BYTES,
  parseCommonAlert,
} from '../../core/alerts/commonAlertSchema';
import { verifyEntraToken } from '../../core/alerts/entraToken';
import { validation } from '../../core/errors';
import { decisionPortsFor } from './decisionPorts';
import { alertAcceptedResponse } from './alertResponses';

/**
 * Azure Monitor action groups post here (common alert schema), with the function key in the
 * URL (a Function action) and, when Haven is configured for it, an Entra token (a Secure
 * Webhook). The answer is 202 at once: the decision runs in a durable orchestration. Action
 * groups retry only 408/429/503/504, so a bad payload is a 400 that is never retried, and a
 * redelivery of the same alert is recorded as a duplicate.
 */
export const receiveAzureMonitorAlert = register(
  {
    name: 'receiveAzureMonitorAlert',
    method: 'POST',
    route: 'alerts/azure-monitor',
    caller: 'admin',
    tag: 'alerts',
    summary: 'Azure Monitor action group webhook (common alert schema, ≤ 256 KB)',
    body: commonAlertSchema,
    response: alertAcceptedResponse,
    responses: {
      202: 'Received: handed to a decision, ignored (no trigger matched) or a duplicate',
    },
    extraInputs: [durableClientInput],
  },
  handler(async (root, req, context) => {
    if (root.alertsEntra)
      await verifyEntraToken(
        req.headers.get('authorization'),
        root.alertsEntra.rules,
        root.alertsEntra.keys,
        root.clock(),
      );
    const declared = Number(req.headers.get('content-length') ?? NaN);
    if (declared > MAX_ALERT_BYTES)
      throw validation(`The alert payload exceeds ${MAX_ALERT_BYTES} bytes.`);
    const e = parseCommonAlert(Buffer.from(await req.arrayBuffer()));
    const r = await root.alerts.ingest.receive(e, 'azure-monitor', decisionPortsFor(context));
    context.log(
      `alert ${e.alertRule} ${e.monitorCondition}: ${r.status}${r.receipt.reason ? ` (${r.receipt.reason})` : ''}`,
    );
    return { status: 202, jsonBody: { status: r.status, receipt: r.receipt } };
  }),
);
