param location string
param tags object
param token string
param storageAccountName string
@description('The account of the replica page blobs and recovery base blobs (main.bicep, replicaStorageSku).')
param replicaStorageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string
param cosmosEndpoint string
param eventHubName string
param keyVaultUri string
@description('The Key Vault key that wraps machine data keys (keyvault.bicep).')
param kekKeyName string
@description('Subnet for VNet integration (outbound to Storage, Event Hubs, Cosmos DB, Key Vault through service endpoints); empty = none.')
param appSubnetId string = ''
@description('The resource group recovered machines go to (main.bicep makes it; modules/recoveryRoles.bicep grants the identity there).')
param recoveryResourceGroupName string
@description('Default region of recovered machines.')
param recoveryLocation string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource replicaStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: replicaStorageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-haven-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-haven-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 100, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '20' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        // Storage and Cosmos DB by the app's identity, no keys (so entraOnly can turn them off):
        // blobs and user-delegation SAS through the account URL; the hydrate blob trigger's
        // connection (HAVEN_STORAGE_CONNECTION) as an identity-based connection (blob service,
        // queue service for its poison queue).
        { name: 'HAVEN_STORAGE_ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
        { name: 'HAVEN_STORAGE_CREDENTIAL', value: 'managed-identity' }
        { name: 'HAVEN_STORAGE_CONNECTION__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'HAVEN_STORAGE_CONNECTION__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'HAVEN_STORAGE_CONNECTION__credential', value: 'managedidentity' }
        // Containers `replicas` and `recovery` in the replica account, by the same identity and
        // credential settings; managed-disk Import reads recovery's base blob through that
        // account's id.
        { name: 'HAVEN_REPLICA_STORAGE_ACCOUNT_URL', value: replicaStorage.properties.primaryEndpoints.blob }
        { name: 'HAVEN_STORAGE_ACCOUNT_ID', value: replicaStorage.id }
        { name: 'HAVEN_COSMOS_ENDPOINT', value: cosmosEndpoint }
        { name: 'HAVEN_COSMOS_CREDENTIAL', value: 'managed-identity' }
        { name: 'HAVEN_DOCUMENT_STORE', value: 'cosmos' }
        { name: 'HAVEN_EVENTHUBS_CONNECTION', value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/eventhubs-connection/)' }
        { name: 'HAVEN_EVENTHUBS_SIGNING_CONNECTION', value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/eventhubs-signing-connection/)' }
        { name: 'HAVEN_EVENTHUBS_HUB', value: eventHubName }
        // New data keys are wrapped by the vault's key with the app's identity; HAVEN_KEK only
        // unwraps keys wrapped before the app had the vault key (each key names its KEK).
        { name: 'HAVEN_KEYVAULT_URL', value: keyVaultUri }
        { name: 'HAVEN_KEK_KEY_NAME', value: kekKeyName }
        { name: 'HAVEN_KEYVAULT_CREDENTIAL', value: 'managed-identity' }
        { name: 'HAVEN_KEK', value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/haven-kek/)' }
        // Recovery through Azure Resource Manager (management.azure.com, the default endpoint) by
        // the app's system-assigned identity (no HAVEN_ARM_CLIENT_ID: that is for a user-assigned
        // one), in this subscription; disks import through HAVEN_STORAGE_ACCOUNT_ID above.
        { name: 'HAVEN_ARM_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'HAVEN_ARM_CREDENTIAL', value: 'managed-identity' }
        { name: 'HAVEN_RECOVERY_RESOURCE_GROUP', value: recoveryResourceGroupName }
        { name: 'HAVEN_RECOVERY_LOCATION', value: recoveryLocation }
      ]
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output principalId string = app.identity.principalId
