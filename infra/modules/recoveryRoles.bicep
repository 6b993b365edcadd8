// What the function app's identity may do in the recovery resource group (main.bicep declares
// this module at that group's scope). The sagas reach Azure only through the ARM adapter
// (adapters/arm/), which in this group:
//  - creates, reads and deletes virtual networks (Haven's failover and test vnets), NSGs, public
//    IPs and NICs, and polls their operations: Network Contributor;
//  - creates managed disks (createOption Import of recovery's base blob), VMs on those disks and
//    NICs, starts, stops, deallocates, restarts and deletes them, reads their instance view and
//    boot diagnostics, deletes the disks: Virtual Machine Contributor (disks write/read/delete,
//    virtualMachines/*, networkInterfaces/*, subnet, NSG and public IP join, Compute/locations/*
//    for the operations' polls);
//  - cuts incremental snapshots of the recovered VMs' disks for failback and reads them under a
//    short read grant (beginGetAccess/endGetAccess), deletes them at commit of failback: Disk
//    Snapshot Contributor (Virtual Machine Contributor has neither snapshots nor the grant);
//  - lists the group's resources to find what a plan drill's cleanup left
//    (resourceGroups/resources/read, in none of the above): Reader.
// It does not create this group (it exists: main.bicep) and holds no role anywhere else in the
// subscription: a machine whose recovery settings name another resource group, subnet or NSG
// needs the operator to grant the same there (docs/recovery.md, "The deployment").
param principalId string

// Built-in role definition ids (the same in every tenant).
var roleIds = {
  virtualMachineContributor: '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'
  networkContributor: '4d97b98b-1d4f-4787-a291-c67834d212e7'
  diskSnapshotContributor: '7efff54f-a5b4-42b5-a1c5-5411624893ce'
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
}

resource recoveryRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in [roleIds.virtualMachineContributor, roleIds.networkContributor, roleIds.diskSnapshotContributor, roleIds.reader]: {
    name: guid(resourceGroup().id, principalId, r)
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)
    }
  }
]
