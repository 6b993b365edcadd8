// One of Haven's two storage accounts (main.bicep declares both with this module):
// - the main account: staged batches, claim-check uploads (`in-<machine>`), replica indexes,
//   the durable task hub (queues, tables) and the Functions deployment package;
// - the replica account: each protected disk's replica page blob with its snapshots (the
//   recovery points) and the base blobs recovery copies from them for a managed disk to Import.
// A premium page-blob account (kind StorageV2, Premium_LRS) holds page blobs only: no block
// blobs, queues, tables or files, no lifecycle management, no blob versioning, no access tier,
// LRS only. Account settings below (TLS, public access, shared key, network, blob soft delete)
// are valid for both kinds.
param location string
param tags object
param name string
@description('Standard_ZRS for the main account; the replica account\'s is main.bicep\'s replicaStorageSku.')
param sku string
param containers array
@description('Expire claim-check uploads no event named (lifecycle rule on `in-` containers): the main account. A premium page-blob account has no lifecycle management.')
param expireClaimChecks bool = false
@description('Shared-key access off: the app reaches blobs and signs user-delegation SAS with its identity (see docs/security.md).')
param entraOnly bool = false
@description('Public egress ranges (CIDR) of the protected sites (claim-check uploads, restores); with appSubnetId, only these and the app reach the account.')
param siteIpRanges array = []
param appSubnetId string = ''

var restrictNetwork = !empty(siteIpRanges) && !empty(appSubnetId)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: sku }
  properties: {
    allowBlobPublicAccess: false
    // The app reaches blobs and signs agent upload SAS and read URLs (user-delegation SAS) with
    // its identity (Storage Blob Data Owner); entraOnly refuses the account key to everyone.
    allowSharedKeyAccess: !entraOnly
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    networkAcls: restrictNetwork
      ? {
          defaultAction: 'Deny'
          bypass: 'AzureServices'
          ipRules: map(siteIpRanges, r => { value: r, action: 'Allow' })
          virtualNetworkRules: [{ id: appSubnetId, action: 'Allow' }]
        }
      : { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Blob soft delete covers premium page blobs too (Delete Blob, Put Blob, Copy Blob; not Put Page).
    deleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource containerRes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in containers: {
    parent: blobs
    name: c
    properties: { publicAccess: 'None' }
  }
]

// Claim-check uploads are the staged payloads of their batches until hydrate applies and
// deletes them; uploads no event ever named (agent died mid-send) expire by themselves. The
// delay bounds how long hydration of a disk may stall (a stopped disk is resynced before).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (expireClaimChecks) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-incoming'
          enabled: true
          type: 'Lifecycle'
          definition: {
            // Every machine's claim-check container is `in-<machineId>`. Lifecycle rules cover
            // block and append blobs (Azure has no lifecycle for page blobs): a page blob in a
            // machine's own container can only come from that machine, is refused by ingest, and
            // goes with the machine (haven machine delete).
            filters: { blobTypes: ['blockBlob', 'appendBlob'], prefixMatch: ['in-'] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 14 } } }
          }
        }
      ]
    }
  }
}

output name string = account.name
