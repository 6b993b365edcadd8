param location string
param tags object
param token string
@description('True once the app authenticates to Cosmos DB with its identity: local (key) auth off.')
param entraOnly bool = false
@description('Subnet of the function app: with it, only that subnet reaches the account.')
param appSubnetId string = ''

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'cosmos-haven-${token}'
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [{ locationName: location, failoverPriority: 0, isZoneRedundant: false }]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    capabilities: [{ name: 'EnableServerless' }]
    // The app's Cosmos adapter authenticates with the account key today (from Key Vault);
    // with entraOnly it must use its identity (data-plane RBAC, granted in roles.bicep).
    disableLocalAuth: entraOnly
    // Only the app talks to Cosmos: with its subnet, nothing else reaches the account.
    isVirtualNetworkFilterEnabled: !empty(appSubnetId)
    virtualNetworkRules: empty(appSubnetId) ? [] : [{ id: appSubnetId }]
  }
}

resource db 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: 'haven'
  properties: { resource: { id: 'haven' } }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
