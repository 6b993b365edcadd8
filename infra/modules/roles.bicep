// Data-plane roles for the function app's identity (and optionally the developer).
param principalIds array
param storageAccountName string
param replicaStorageAccountName string
param cosmosAccountName string
param eventHubsNamespaceName string
param keyVaultName string
@description('The function app\'s identity alone (recovery is the app\'s, not the developer\'s).')
param appPrincipalId string

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  readerAndDataAccess: 'c12c1c16-33a1-487b-954d-41c89c60f349'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource replicaStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: replicaStorageAccountName
}
resource ns 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName
}
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for pair in flatten(map(principalIds, p => map([roleIds.storageBlobDataOwner, roleIds.storageQueueDataContributor, roleIds.storageTableDataContributor], r => { p: p, r: r }))): {
    scope: storage
    name: guid(storage.id, pair.p, pair.r)
    properties: { principalId: pair.p, roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', pair.r) }
  }
]

// The replica account: blobs only (a premium page-blob account has no queue or table service).
// Storage Blob Data Owner as on the main account: page writes, snapshots, copies, and the
// user-delegation key for the read URLs of replica snapshots (restore, failback).
resource replicaStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for p in principalIds: {
    scope: replicaStorage
    name: guid(replicaStorage.id, p, roleIds.storageBlobDataOwner)
    properties: { principalId: p, roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner) }
  }
]

// A managed disk that imports recovery's base blob names the replica account
// (creationData.storageAccountId): Azure checks the caller's right on that account as well as on
// the disk. Reader and Data Access (storageAccounts/read, listKeys/action, ListAccountSas/action)
// is the narrowest built-in role with the account-level right such a linked check asks of a blob
// source (Compute Gallery asks listKeys of a VHD's account); the app itself never lists keys.
resource replicaImportRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: replicaStorage
  name: guid(replicaStorage.id, appPrincipalId, roleIds.readerAndDataAccess)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.readerAndDataAccess)
  }
}

resource hubRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for pair in flatten(map(principalIds, p => map([roleIds.eventHubsDataReceiver, roleIds.eventHubsDataSender], r => { p: p, r: r }))): {
    scope: ns
    name: guid(ns.id, pair.p, pair.r)
    properties: { principalId: pair.p, roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', pair.r) }
  }
]

resource vaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for pair in flatten(map(principalIds, p => map([roleIds.keyVaultSecretsUser, roleIds.keyVaultCryptoUser], r => { p: p, r: r }))): {
    scope: vault
    name: guid(vault.id, pair.p, pair.r)
    properties: { principalId: pair.p, roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', pair.r) }
  }
]

// Cosmos DB Built-in Data Contributor (data plane RBAC: what the app needs once local auth is off).
resource cosmosRoles 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [
  for p in principalIds: {
    parent: cosmos
    name: guid(cosmos.id, p, 'data-contributor')
    properties: {
      principalId: p
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
      scope: cosmos.id
    }
  }
]
