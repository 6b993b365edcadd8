// The ordered log of what changed. Standard tier: 1 MB events, ~1 MB/s per TU; bulk bytes
// travel as claim-checked blobs. Agents send with publisher-scoped SAS tokens the control
// plane signs with the Send-only 'haven-agent-signing' rule, scoped to their publisher path.
param location string
param tags object
param token string
@description('Public egress ranges (CIDR) of the protected sites; with appSubnetId, only these and the app reach the namespace.')
param siteIpRanges array = []
@description('Subnet the function app is integrated with (service endpoints for Storage, Event Hubs, Cosmos DB, Key Vault).')
param appSubnetId string = ''

var restrictNetwork = !empty(siteIpRanges) && !empty(appSubnetId)

resource ns 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: 'evhns-haven-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: { isAutoInflateEnabled: true, maximumThroughputUnits: 10, minimumTlsVersion: '1.2' }
}

// Retention is how long an ingest outage may last without losing a batch: ingest retries until
// it succeeds, so only events the hub dropped are lost, and a lost inline batch costs its disk a
// full resync (a claim-checked one is taken from its upload, kept 14 days). 7 days, Standard's
// most, rides out a long outage; its storage is included up to the namespace's quota per unit.
resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: ns
  name: 'haven-batches'
  properties: { partitionCount: 4, messageRetentionInDays: 7 }
}

resource ingestGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: 'ingest'
}

// Two rules, neither with both rights: the ingest trigger listens with 'haven-listen'; the
// control plane signs the agents' publisher tokens with 'haven-agent-signing', which can only
// send (a token is scoped to one publisher path and expires within the hour). Identity-based
// listening (the app's Event Hubs Data Receiver role, roles.bicep) could replace 'haven-listen':
// the trigger's connection would become HAVEN_EVENTHUBS_CONNECTION__fullyQualifiedNamespace and
// the app would read the namespace for its health probe instead of a connection string.
resource listenRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' = {
  parent: hub
  name: 'haven-listen'
  properties: { rights: ['Listen'] }
}

resource signingRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' = {
  parent: hub
  name: 'haven-agent-signing'
  properties: { rights: ['Send'] }
}

// Agents send from their sites: with site ranges (and the app's subnet) the namespace accepts
// only those; without them it stays public (TLS 1.2, SAS tokens per publisher).
resource network 'Microsoft.EventHub/namespaces/networkRuleSets@2024-01-01' = if (restrictNetwork) {
  parent: ns
  name: 'default'
  properties: {
    defaultAction: 'Deny'
    publicNetworkAccess: 'Enabled'
    trustedServiceAccessEnabled: true
    ipRules: map(siteIpRanges, r => { ipMask: r, action: 'Allow' })
    virtualNetworkRules: [{ subnet: { id: appSubnetId }, ignoreMissingVnetServiceEndpoint: false }]
  }
}

output namespaceName string = ns.name
output fqdn string = '${ns.name}.servicebus.windows.net'
output hubName string = hub.name
