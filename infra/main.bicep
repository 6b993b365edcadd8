// Haven in Azure: Functions (Flex Consumption) + Storage (replicas, staging, durable hub)
// + Cosmos DB (serverless, SQL API) + Event Hubs (standard) + Key Vault (KEK) + Event Grid
// (blob-created → hydrate) + Application Insights. Identity-based connections throughout.
// Note: no bicep CLI exists on the build machine; this file is not compiled in CI.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
param environmentName string
@minLength(1)
param location string
@description('Object id of the deploying user, granted data-plane roles for local debugging against Azure.')
param principalId string = ''
@description('Alerts into Haven as a Secure Webhook: the Entra app registration fronting Haven (object id, identifier URI); empty = a Function action.')
param alertsAppObjectId string = ''
param alertsAppIdentifierUri string = ''
@description('Optional: a site VPN connection to alert on (example metric alert rule site-vpn-down).')
param vpnConnectionId string = ''
@description('Public egress ranges (CIDR) of the protected sites. With appSubnetId, Storage and Event Hubs accept only these and the app; Cosmos DB and Key Vault only the app.')
param siteIpRanges array = []
@description('A subnet delegated to Microsoft.App/environments with service endpoints for Storage, Event Hubs, Cosmos DB and Key Vault: the function app integrates with it.')
param appSubnetId string = ''
@description('Shared-key access to Storage off. The app uses no storage key; docs/security.md says what is left to check before this is the default.')
param entraOnly bool = false
@description('Key auth to Cosmos DB on (off by default: the app uses its identity, the deployment makes the containers).')
param cosmosKeyAuth bool = false

var tags = { 'azd-env-name': environmentName, app: 'haven' }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-haven-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: { location: location, tags: tags, token: token }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    entraOnly: entraOnly
    siteIpRanges: siteIpRanges
    appSubnetId: appSubnetId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    keyAuth: cosmosKeyAuth
    appSubnetId: appSubnetId
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: { location: location, tags: tags, token: token, siteIpRanges: siteIpRanges, appSubnetId: appSubnetId }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: { location: location, tags: tags, token: token, appSubnetId: appSubnetId }
}

module secrets 'modules/secrets.bicep' = {
  name: 'secrets'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.hubName
  }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainer
    appInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    eventHubName: eventHubs.outputs.hubName
    keyVaultUri: keyVault.outputs.uri
    kekKeyName: keyVault.outputs.kekKeyName
    appSubnetId: appSubnetId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalIds: empty(principalId) ? [functions.outputs.principalId] : [functions.outputs.principalId, principalId]
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.namespaceName
    keyVaultName: keyVault.outputs.name
  }
}

module blobEvents 'modules/blobevents.bicep' = {
  name: 'blobevents'
  scope: rg
  params: {
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    functionAppName: functions.outputs.name
  }
  dependsOn: [roles]
}

module alertActionGroup 'modules/alertactiongroup.bicep' = {
  name: 'alertactiongroup'
  scope: rg
  params: {
    tags: tags
    functionAppName: functions.outputs.name
    secureWebhookAppObjectId: alertsAppObjectId
    secureWebhookIdentifierUri: alertsAppIdentifierUri
    vpnConnectionId: vpnConnectionId
  }
}

output HAVEN_ALERTS_ACTION_GROUP_ID string = alertActionGroup.outputs.actionGroupId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_RESOURCE_GROUP string = rg.name
output HAVEN_API_URL string = 'https://${functions.outputs.defaultHostName}/api'
output HAVEN_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output HAVEN_EVENTHUBS_NAMESPACE string = eventHubs.outputs.fqdn
