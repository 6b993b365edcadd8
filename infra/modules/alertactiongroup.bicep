// An Azure Monitor action group that hands alerts to Haven (POST /api/alerts/azure-monitor, common
// alert schema), and optionally an example metric alert rule on a site's VPN connection.
//  - Default: an Azure Function action (the action group calls the function with its key).
//  - With secureWebhookAppObjectId: a Secure Webhook instead (Entra token for the app registration
//    fronting Haven; set HAVEN_ALERTS_ENTRA_ISSUER / _AUDIENCE / _ROLES / _JWKS_URL on the app so
//    Haven checks it), the function key still in the URL.
// Haven answers 202 at once and decides in a durable orchestration; action groups retry only
// 408/429/503/504, so a refused payload (400) is not retried and a retried delivery is a duplicate.
param tags object
param functionAppName string
param actionGroupName string = 'ag-haven-dr'
@maxLength(12)
param groupShortName string = 'havendr'
@description('Object id of the Entra app registration that fronts Haven (Secure Webhook); empty = Function action with the function key.')
param secureWebhookAppObjectId string = ''
@description('Its Application ID URI (the token audience), e.g. api://haven-alerts.')
param secureWebhookIdentifierUri string = ''
@description('Optional: a site VPN connection (Microsoft.Network/connections) to alert on when no traffic crosses it for 5 minutes.')
param vpnConnectionId string = ''

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

var alertsUrl = 'https://${app.properties.defaultHostName}/api/alerts/azure-monitor'
var secure = !empty(secureWebhookAppObjectId)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: groupShortName
    enabled: true
    azureFunctionReceivers: secure
      ? []
      : [
          {
            name: 'haven'
            functionAppResourceId: app.id
            functionName: 'receiveAzureMonitorAlert'
            httpTriggerUrl: alertsUrl
            useCommonAlertSchema: true
          }
        ]
    webhookReceivers: secure
      ? [
          {
            name: 'haven-secure'
            serviceUri: '${alertsUrl}?code=${listKeys('${app.id}/host/default', '2024-04-01').functionKeys.default}'
            useCommonAlertSchema: true
            useAadAuth: true
            objectId: secureWebhookAppObjectId
            identifierUri: secureWebhookIdentifierUri
            tenantId: tenant().tenantId
          }
        ]
      : []
  }
}

// Example rule: the alert rule's name is what a Haven alert trigger matches (`--rule site-vpn-down`).
resource vpnDown 'Microsoft.Insights/metricAlerts@2018-03-01' = if (!empty(vpnConnectionId)) {
  name: 'site-vpn-down'
  location: 'global'
  tags: tags
  properties: {
    description: 'No traffic from the site over its VPN for 5 minutes'
    severity: 1
    enabled: true
    scopes: [vpnConnectionId]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'no-ingress'
          metricName: 'TunnelIngressBytes'
          metricNamespace: 'Microsoft.Network/connections'
          operator: 'LessThan'
          threshold: 1
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [{ actionGroupId: actionGroup.id }]
  }
}

output actionGroupId string = actionGroup.id
