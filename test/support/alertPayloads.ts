/** Azure Monitor common alert schema payloads for tests (shape of the documented metric sample). */
export interface AlertOverrides {
  alertId?: string;
  alertRule?: string;
  severity?: string;
  signalType?: string;
  monitorCondition?: 'Fired' | 'Resolved';
  alertTargetIDs?: string[];
  firedDateTime?: string;
  resolvedDateTime?: string;
  customProperties?: Record<string, string> | null;
}

export function commonAlert(o: AlertOverrides = {}): Record<string, unknown> {
  const condition = o.monitorCondition ?? 'Fired';
  return {
    schemaId: 'azureMonitorCommonAlertSchema',
    data: {
      essentials: {
        alertId:
          o.alertId ??
          '/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330',
        alertRule: o.alertRule ?? 'site-a-down',
        severity: o.severity ?? 'Sev1',
        signalType: o.signalType ?? 'Metric',
        monitorCondition: condition,
        monitoringService: 'Platform',
        alertTargetIDs: o.alertTargetIDs ?? [
          '/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/site-a/providers/microsoft.network/connections/vpn-site-a',
        ],
        configurationItems: ['vpn-site-a'],
        originAlertId:
          '3f2d4487-b0fc-4125-8bd5-7ad17384221e_PipeLineAlertRG_microsoft.insights_metricAlerts_WCUS-R2-Gen2_-117781227',
        firedDateTime: o.firedDateTime ?? '2026-12-01T10:00:00.1234567Z',
        ...(condition === 'Resolved'
          ? { resolvedDateTime: o.resolvedDateTime ?? '2026-12-01T10:05:00.7654321Z' }
          : {}),
        description: 'VPN tunnel to site A is down',
        essentialsVersion: '1.0',
        alertContextVersion: '1.0',
      },
      alertContext: {
        properties: null,
        conditionType: 'SingleResourceMultipleMetricCriteria',
        condition: {
          windowSize: 'PT5M',
          allOf: [
            {
              metricName: 'TunnelIngressBytes',
              operator: 'LessThan',
              threshold: '1',
              timeAggregation: 'Total',
              metricValue: 0,
            },
          ],
        },
      },
      customProperties: o.customProperties === undefined ? { site: 'a' } : o.customProperties,
    },
  };
}
