// Haven in Azure: Functions (Flex Consumption) + Storage (staging, durable hub) + a second
// storage account for the replica page blobs
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
// The replicas (container `replicas`) and recovery's base blobs (`recovery`) have an account of
// their own: a premium page-blob account holds page blobs only, while staging, claim-check
// uploads, indexes, the durable hub and the deployment package are block blobs, queues and
// tables. A standard page blob takes ~500 writes/s; a premium one the IOPS of its size tier (1 TiB,
// P30: 5,000), which a replica under heavy random churn needs. But a premium page blob keeps at
// most 100 snapshots, takes one per 10 minutes, and a snapshot of it is read only by copying it
// to a new blob, where Haven cuts a snapshot per recovery point and reads them (restore, point
// checks, failback). So the default stays standard and zone-redundant, as the replicas were in
// the main account; Premium_LRS (premium page blobs are LRS only) once the app keeps within those
// limits. The SKU is fixed at creation: standard to premium is a new account and a resync.
@description('SKU of the replica account (kind StorageV2): Standard_ZRS, Standard_LRS, or Premium_LRS for premium page blobs (see the comment above).')
@allowed(['Standard_ZRS', 'Standard_LRS', 'Premium_LRS'])
param replicaStorageSku string = 'Standard_ZRS'
// Recovered machines (test failovers, failovers, plans, failback's Azure side) go to a resource
// group of their own, made here at subscription scope like the main one; the app's identity has
// roles in it (modules/recoveryRoles.bicep) and nowhere else. The app takes it as it is (it makes
// a group only when missing, which its identity may not do).
@description('Resource group recovered machines go to (HAVEN_RECOVERY_RESOURCE_GROUP); the app\'s default name. A second environment in the same subscription needs a name of its own.')
@minLength(1)
@maxLength(90)
param recoveryResourceGroupName string = 'haven-recovery'
// The protected sites are outside Azure: the deployment's region is already the disaster-recovery
// region, away from the sites, so recovered machines default to it. A managed disk imports its
// blob only from a storage account in its own region, and the replica account is in `location`:
// a recoveryLocation other than that needs the replica account there too (docs/recovery.md).
@description('Region of recovered machines (HAVEN_RECOVERY_LOCATION; a machine\'s settings may name another). Default: the deployment\'s region, where the replica account is.')
param recoveryLocation string = location

var tags = { 'azd-env-name': environmentName, app: 'haven' }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainer = 'deployments'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-haven-${environmentName}'
  location: location
  tags: tags
}

resource recoveryRg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: recoveryResourceGroupName
  location: recoveryLocation
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
    name: 'sthaven${token}'
    sku: 'Standard_ZRS'
    containers: ['replica-index', 'staging', 'batches', 'incoming', deploymentContainer]
    expireClaimChecks: true
    entraOnly: entraOnly
    siteIpRanges: siteIpRanges
    appSubnetId: appSubnetId
  }
}

// Same access settings as the main account (identity, entraOnly, network); page blobs only.
module replicaStorage 'modules/storage.bicep' = {
  name: 'replicastorage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'sthavenrep${token}'
    sku: replicaStorageSku
    containers: ['replicas', 'recovery']
    expireClaimChecks: false
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
    replicaStorageAccountName: replicaStorage.outputs.name
    deploymentContainerName: deploymentContainer
    appInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    eventHubName: eventHubs.outputs.hubName
    keyVaultUri: keyVault.outputs.uri
    kekKeyName: keyVault.outputs.kekKeyName
    appSubnetId: appSubnetId
    recoveryResourceGroupName: recoveryRg.name
    recoveryLocation: recoveryLocation
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalIds: empty(principalId) ? [functions.outputs.principalId] : [functions.outputs.principalId, principalId]
    storageAccountName: storage.outputs.name
    replicaStorageAccountName: replicaStorage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.namespaceName
    keyVaultName: keyVault.outputs.name
    appPrincipalId: functions.outputs.principalId
  }
}

// The app's identity in the recovery group: disks, VMs, networks, snapshots (see the module).
module recoveryRoles 'modules/recoveryRoles.bicep' = {
  name: 'recoveryroles'
  scope: recoveryRg
  params: { principalId: functions.outputs.principalId }
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
output HAVEN_RECOVERY_RESOURCE_GROUP string = recoveryRg.name
output HAVEN_API_URL string = 'https://${functions.outputs.defaultHostName}/api'
output HAVEN_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output HAVEN_EVENTHUBS_NAMESPACE string = eventHubs.outputs.fqdn
