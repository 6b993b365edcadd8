param location string
param tags object
param token string
@description('Key auth on: the app never uses it (it authenticates with its identity, data-plane RBAC in roles.bicep).')
param keyAuth bool = false
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
    // The app authenticates with its identity (HAVEN_COSMOS_CREDENTIAL, data-plane RBAC granted
    // in roles.bicep) and the deployment makes every container, so no key is needed by anyone.
    disableLocalAuth: !keyAuth
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

// Every container of the app, as the app would create it (adapters/documents/
// cosmosContainerDefinition.ts; test/architecture keeps the file equal to the app's
// collections). Data-plane RBAC has no right to create containers: with local auth off the app
// could not create them itself.
var containers = loadJsonContent('cosmosContainers.json')
resource containerRes 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for c in containers: {
    parent: db
    name: c.id
    properties: { resource: c }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
