param location string
param tags object
param token string

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
    // switching to Entra ID (data-plane RBAC, granted in roles.bicep) is the next step.
    disableLocalAuth: false
  }
}

resource db 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: 'haven'
  properties: { resource: { id: 'haven' } }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
