import { z } from 'zod';
import { validation } from '../errors';

/**
 * Azure Monitor's common alert schema (what an action group's webhook posts): the essentials
 * Haven decides on are checked strictly; the rest (alert context, fields Azure adds over time)
 * passes through unread. Payloads are at most 256 KB (Azure's own limit).
 */
export const MAX_ALERT_BYTES = 256 * 1024;

export const severities = ['Sev0', 'Sev1', 'Sev2', 'Sev3', 'Sev4'] as const;
export type Severity = (typeof severities)[number];
export const signalTypes = ['Metric', 'Log', 'Activity Log'] as const;
export type SignalType = (typeof signalTypes)[number];

const isoTime = z.iso.datetime({ offset: true, local: false });

export const essentialsSchema = z
  .object({
    alertId: z.string().min(1).max(1000),
    alertRule: z.string().min(1).max(1000),
    severity: z.enum(severities),
    signalType: z.enum(signalTypes),
    monitorCondition: z.enum(['Fired', 'Resolved']),
    monitoringService: z.string().min(1).max(200),
    alertTargetIDs: z.array(z.string().min(1).max(2000)).max(500),
    configurationItems: z.array(z.string().max(2000)).max(500).optional(),
    originAlertId: z.string().max(2000).optional(),
    firedDateTime: isoTime,
    resolvedDateTime: isoTime.optional(),
    description: z.string().max(10_000).optional(),
    essentialsVersion: z.string().max(50).optional(),
    alertContextVersion: z.string().max(50).optional(),
  })
  .loose();

export const commonAlertSchema = z
  .object({
    schemaId: z.literal('azureMonitorCommonAlertSchema'),
    data: z
      .object({
        essentials: essentialsSchema,
        alertContext: z.unknown().optional(),
        customProperties: z.record(z.string(), z.string()).nullable().optional(),
      })
      .loose(),
  })
  .loose();

export type Essentials = z.infer<typeof essentialsSchema>;

/** What Haven keeps of an alert: its essentials (bounded) and custom properties. */
export interface AlertEssentials {
  alertId: string;
  alertRule: string;
  severity: Severity;
  signalType: SignalType;
  monitorCondition: 'Fired' | 'Resolved';
  monitoringService: string;
  alertTargetIDs: string[];
  firedDateTime: string;
  resolvedDateTime?: string;
  description?: string;
  customProperties: Record<string, string>;
}

/**
 * Parses a webhook body. Every refusal (over 256 KB, not JSON, not the common schema, wrong
 * types, missing essentials, Resolved without its time) is a `validation` HavenError whose
 * message never quotes the payload.
 */
export function parseCommonAlert(body: Buffer | string): AlertEssentials {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (bytes.length > MAX_ALERT_BYTES)
    throw validation(`The alert payload exceeds ${MAX_ALERT_BYTES} bytes.`, {
      limit: MAX_ALERT_BYTES,
    });
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw validation('The alert payload is not valid JSON.');
  }
  const parsed = commonAlertSchema.safeParse(json);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(root)',
      message: i.message,
    }));
    throw validation(
      `Not an Azure Monitor common alert schema payload: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      { errors },
    );
  }
  const e = parsed.data.data.essentials;
  if (e.monitorCondition === 'Resolved' && !e.resolvedDateTime)
    throw validation('A Resolved alert must carry resolvedDateTime.', {
      errors: [{ path: 'data.essentials.resolvedDateTime', message: 'required when Resolved' }],
    });
  return {
    alertId: e.alertId,
    alertRule: e.alertRule,
    severity: e.severity,
    signalType: e.signalType,
    monitorCondition: e.monitorCondition,
    monitoringService: e.monitoringService,
    alertTargetIDs: e.alertTargetIDs.slice(0, 50),
    firedDateTime: e.firedDateTime,
    ...(e.resolvedDateTime ? { resolvedDateTime: e.resolvedDateTime } : {}),
    ...(e.description ? { description: e.description.slice(0, 500) } : {}),
    customProperties: Object.fromEntries(
      Object.entries(parsed.data.data.customProperties ?? {}).slice(0, 50),
    ),
  };
}

/** A common-schema payload for an alert Haven raises itself (the site-down signal). */
export function commonAlertPayload(e: AlertEssentials): Record<string, unknown> {
  const { customProperties, ...essentials } = e;
  return {
    schemaId: 'azureMonitorCommonAlertSchema',
    data: {
      essentials: { ...essentials, essentialsVersion: '1.0', alertContextVersion: '1.0' },
      alertContext: null,
      customProperties,
    },
  };
}
