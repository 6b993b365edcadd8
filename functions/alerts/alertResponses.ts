import { z } from 'zod';
import { severities, signalTypes } from '../../core/alerts/commonAlertSchema';
import { createTriggerBody } from '../../core/alerts/triggerSchema';

/** Response shapes of the alerts API (OpenAPI). */

const time = z.string().describe('ISO 8601 UTC time');

export const alertReceiptResponse = z.object({
  id: z.string(),
  key: z.string().describe('sha256 of alertId and condition: the first delivery'),
  essentials: z.object({
    alertId: z.string(),
    alertRule: z.string(),
    severity: z.enum(severities),
    signalType: z.enum(signalTypes),
    monitorCondition: z.enum(['Fired', 'Resolved']),
    monitoringService: z.string(),
    alertTargetIDs: z.array(z.string()),
    firedDateTime: time,
    resolvedDateTime: time.optional(),
    description: z.string().optional(),
    customProperties: z.record(z.string(), z.string()),
  }),
  source: z.enum(['azure-monitor', 'haven']),
  receivedAt: time,
  outcome: z.enum(['pending', 'accepted', 'ignored']),
  reason: z.string().optional(),
  detail: z.string().optional(),
  triggers: z.array(z.string()),
  decisionIds: z.array(z.string()),
  jobId: z.string().optional(),
  duplicateOf: z.string().optional(),
  processedAt: time.optional(),
  expiresAt: z.number(),
});

export const alertAcceptedResponse = z.object({
  status: z.enum(['pending', 'ignored', 'duplicate']),
  receipt: alertReceiptResponse,
});

export const triggerResponse = createTriggerBody.extend({
  id: z.string(),
  createdAt: time,
  updatedAt: time,
});
