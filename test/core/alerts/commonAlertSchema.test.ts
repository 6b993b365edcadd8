import { describe, expect, it } from 'vitest';
import { HavenError } from '../../../core/errors';
import { MAX_ALERT_BYTES, parseCommonAlert } from '../../../core/alerts/commonAlertSchema';
import { commonAlert } from '../../support/alertPayloads';

const kindOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof HavenError ? e.kind : 'other';
  }
};

const mutate = (fn: (p: { data: { essentials: Record<string, unknown> } }) => void) => {
  const p = commonAlert() as { data: { essentials: Record<string, unknown> } };
  fn(p);
  return JSON.stringify(p);
};

describe('common alert schema', () => {
  it('keeps the essentials and custom properties of a documented payload', () => {
    const e = parseCommonAlert(JSON.stringify(commonAlert({ monitorCondition: 'Resolved' })));
    expect(e).toMatchObject({
      alertRule: 'site-a-down',
      severity: 'Sev1',
      signalType: 'Metric',
      monitorCondition: 'Resolved',
      firedDateTime: '2026-12-01T10:00:00.1234567Z',
      resolvedDateTime: '2026-12-01T10:05:00.7654321Z',
      customProperties: { site: 'a' },
    });
    expect(
      parseCommonAlert(JSON.stringify(commonAlert({ customProperties: null }))).customProperties,
    ).toEqual({});
  });

  it.each([
    ['not JSON', '{"schemaId": '],
    ['another schema', JSON.stringify({ schemaId: 'Microsoft.Insights/activityLogs', data: {} })],
    ['no essentials', JSON.stringify({ schemaId: 'azureMonitorCommonAlertSchema', data: {} })],
    ['missing alertId', mutate((p) => delete p.data.essentials.alertId)],
    ['missing alertRule', mutate((p) => delete p.data.essentials.alertRule)],
    ['severity Sev9', mutate((p) => (p.data.essentials.severity = 'Sev9'))],
    ['severity as number', mutate((p) => (p.data.essentials.severity = 1))],
    ['unknown condition', mutate((p) => (p.data.essentials.monitorCondition = 'Flapping'))],
    ['targets not an array', mutate((p) => (p.data.essentials.alertTargetIDs = 'x'))],
    ['fired time not a time', mutate((p) => (p.data.essentials.firedDateTime = 'yesterday'))],
    ['Resolved without its time', mutate((p) => (p.data.essentials.monitorCondition = 'Resolved'))],
    ['a JSON array', '[]'],
  ])('%s → validation', (_what, body) => {
    expect(kindOf(() => parseCommonAlert(body))).toBe('validation');
  });

  it('over 256 KB is refused without parsing; the message never quotes the payload', () => {
    const p = commonAlert() as { data: { alertContext: unknown } };
    p.data.alertContext = { padding: 'x'.repeat(MAX_ALERT_BYTES) };
    const body = JSON.stringify(p);
    expect(kindOf(() => parseCommonAlert(body))).toBe('validation');
    try {
      parseCommonAlert(
        '{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"SECRET-VALUE"}}}',
      );
    } catch (e) {
      expect((e as Error).message).not.toContain('SECRET-VALUE');
    }
  });
});
