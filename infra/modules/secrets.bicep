// Connection secrets the app reads: the Event Hubs listen rule for the trigger and the
// send-only rule that signs publisher tokens. Storage and Cosmos DB are reached by the app's
// identity (no key is written here). They live in Key Vault and reach the app as Key Vault
// references. HAVEN_KEK is NOT written here: a redeploy must never rotate it (it wraps every
// machine's batch key); azure.yaml's postprovision hook creates it once.
param keyVaultName string
param eventHubsNamespaceName string
param eventHubName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}
resource listenRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${eventHubName}/haven-listen'
}
resource signingRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${eventHubName}/haven-agent-signing'
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
