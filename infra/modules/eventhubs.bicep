// The ordered log of what changed. Standard tier: 1 MB events, ~1 MB/s per TU; bulk bytes
// travel as claim-checked blobs. Agents send with publisher-scoped SAS tokens the control
// plane signs with the 'haven-app' rule, scoped to their publisher path.
param location string
param tags object
param token string

resource ns 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: 'evhns-haven-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: { isAutoInflateEnabled: true, maximumThroughputUnits: 10, minimumTlsVersion: '1.2' }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: ns
  name: 'haven-batches'
  properties: { partitionCount: 4, messageRetentionInDays: 1 }
}

resource ingestGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: 'ingest'
}

resource sendRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' = {
  parent: hub
  // The app's rule: the ingest trigger listens with it and it signs agents' tokens, which are
  // scoped to one publisher path (send only) and expire within the hour.
  name: 'haven-app'
  properties: { rights: ['Send', 'Listen'] }
}

output namespaceName string = ns.name
output fqdn string = '${ns.name}.servicebus.windows.net'
output hubName string = hub.name
