// Holds HAVEN_KEK (wraps per-machine batch keys) and the Event Hubs send key used to sign
// publisher tokens; the function app reads them through Key Vault references.
param location string
param tags object
param token string

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
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
