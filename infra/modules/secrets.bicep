// Connection secrets the app reads today (account-key SAS for agent uploads and read URLs,
// the Event Hubs listen rule for the trigger and the send-only rule that signs publisher
// tokens, the Cosmos key). With entraOnly (main.bicep) the storage and Cosmos keys stop
// working: see docs/security.md for what the app must do instead. They live in Key Vault
// and reach the app as Key Vault references. HAVEN_KEK is NOT written here: a redeploy must
// never rotate it (it wraps every machine's batch key); azure.yaml's postprovision hook
// creates it once.
param keyVaultName string
param storageAccountName string
param cosmosAccountName string
param eventHubsNamespaceName string
param eventHubName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}
resource listenRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${eventHubName}/haven-listen'
}
resource signingRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${eventHubName}/haven-agent-signing'
}
resource storageConnection 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'storage-connection'
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

resource cosmosKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'cosmos-key'
  properties: { value: cosmos.listKeys().primaryMasterKey }
}

// The ingest trigger's connection (Listen only).
resource listenConnection 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'eventhubs-connection'
  properties: { value: listenRule.listKeys().primaryConnectionString }
}

// Signs the agents' publisher-scoped tokens (Send only): HAVEN_EVENTHUBS_SIGNING_CONNECTION.
resource signingConnection 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'eventhubs-signing-connection'
  properties: { value: signingRule.listKeys().primaryConnectionString }
}
