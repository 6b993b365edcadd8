// Holds HAVEN_KEK (wraps per-machine batch keys), its successor as a Key Vault key, and the
// connection secrets; the function app reads them through Key Vault references.
param location string
param tags object
param token string
@description('Subnet of the function app: with it, only that subnet (and trusted Azure services) reaches the vault.')
param appSubnetId string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-haven-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
    networkAcls: empty(appSubnetId)
      ? { defaultAction: 'Allow', bypass: 'AzureServices' }
      : { defaultAction: 'Deny', bypass: 'AzureServices', virtualNetworkRules: [{ id: appSubnetId }] }
  }
}

// The key-encryption key as a Key Vault key: it never leaves the vault, the app asks the vault
// to wrap and unwrap machines' data keys (Key Vault Crypto User, roles.bicep). The app still
// reads HAVEN_KEK (a secret, AES-GCM in process) until it has a Key Vault KeyWrapper adapter:
// core/controlPlane/machineKeys.ts KeyWrapper, recording the key version (kid) with each
// wrapped key, since a redeploy of this resource may add a version.
resource kek 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'haven-kek-wrap'
  properties: { kty: 'RSA', keySize: 3072, keyOps: ['wrapKey', 'unwrapKey'] }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
