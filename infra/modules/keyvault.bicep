// Holds the key-encryption key `haven-kek-wrap` (wraps per-machine batch keys), the HAVEN_KEK
// secret that wrapped them before (still read to unwrap those), and the connection secrets; the
// function app reads the secrets through Key Vault references.
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
// to wrap and unwrap machines' data keys (RSA-OAEP-256; Key Vault Crypto User, roles.bicep;
// adapters/keyvault/keyVaultKeyWrapper.ts). Each wrapped data key records the key version it
// was wrapped with, so a redeploy or rotation that adds a version leaves older keys readable.
resource kek 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'haven-kek-wrap'
  properties: { kty: 'RSA', keySize: 3072, keyOps: ['wrapKey', 'unwrapKey'] }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
output kekKeyName string = kek.name
