import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { collections } from '../../app/root';
import { configSchema, loadConfig } from '../../app/config';
import { cosmosContainerOf } from '../../adapters/documents/cosmosContainerDefinition';
import { REPLICAS } from '../../core/replication/names';
import { RECOVERY_CONTAINER } from '../../core/recovery/resourceNames';
import { repoRoot, sourceFiles } from '../support/sourceTree';

// No Bicep compiler here: these keep infra/ and the app consistent by reading both.
const read = (...p: string[]) => readFileSync(join(repoRoot, ...p), 'utf8');
const functions = read('infra', 'modules', 'functions.bicep');
const secrets = read('infra', 'modules', 'secrets.bicep');
const eventHubs = read('infra', 'modules', 'eventhubs.bicep');
const azureYaml = read('azure.yaml');
const keyVault = read('infra', 'modules', 'keyvault.bicep');
const roles = read('infra', 'modules', 'roles.bicep');
const main = read('infra', 'main.bicep');
const config = read('app', 'config.ts');
const cosmos = read('infra', 'modules', 'cosmos.bicep');
const storage = read('infra', 'modules', 'storage.bicep');
const recoveryRoles = read('infra', 'modules', 'recoveryRoles.bicep');
/** The params block of a module main.bicep declares with `modules/storage.bicep`. */
const storageModule = (symbol: string) =>
  new RegExp(`module ${symbol} 'modules/storage\\.bicep' = \\{([\\s\\S]*?)\\n\\}`).exec(
    main,
  )?.[1] ?? '';
const containersOf = (module: string) =>
  [.../containers: \[([^\]]*)\]/.exec(module)![1]!.matchAll(/'([a-z-]+)'/g)].map((m) => m[1]!);
/** The `connection:` setting names of the app's triggers. */
const triggerConnections = sourceFiles(join(repoRoot, 'functions')).flatMap((f) =>
  [...readFileSync(f, 'utf8').matchAll(/connection: '([A-Za-z_]+)'/g)].map((m) => m[1]!),
);

describe('infra and the app agree', () => {
  it('every Key Vault reference of the app names a secret the deployment writes', () => {
    const referenced = [...functions.matchAll(/secrets\/([a-z0-9-]+)\/\)/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(0);
    const written = [
      ...[...secrets.matchAll(/name: '([a-z0-9-]+)'\n/g)].map((m) => m[1]!),
      ...[...azureYaml.matchAll(/secret set .*--name ([a-z0-9-]+)/g)].map((m) => m[1]!),
    ];
    for (const name of referenced) expect(written, name).toContain(name);
  });

  it('every HAVEN_ app setting is one the app reads (or a trigger connection of the host)', () => {
    const settings = [...functions.matchAll(/name: '(HAVEN_[A-Za-z_]+)'/g)].map((m) => m[1]!);
    expect(settings).toContain('HAVEN_EVENTHUBS_SIGNING_CONNECTION');
    for (const s of settings) {
      const [name, property] = s.split('__');
      if (property) expect(triggerConnections, s).toContain(name);
      else expect(config, s).toContain(`env.${s}`);
    }
  });

  it('the app reaches Storage and Cosmos DB by its identity: no key setting, no key written', () => {
    expect(functions).toMatch(
      /name: 'HAVEN_STORAGE_ACCOUNT_URL', value: storage\.properties\.primaryEndpoints\.blob \}/,
    );
    expect(functions).toMatch(/name: 'HAVEN_STORAGE_CREDENTIAL', value: 'managed-identity' \}/);
    expect(functions).toMatch(/name: 'HAVEN_COSMOS_CREDENTIAL', value: 'managed-identity' \}/);
    expect(functions).not.toMatch(/name: '(HAVEN_STORAGE_CONNECTION|HAVEN_COSMOS_KEY)'/);
    expect(functions).not.toMatch(/name: 'AzureWebJobsStorage'/);
    expect(secrets).not.toMatch(/storage\.listKeys|cosmos\.listKeys|AccountKey=/);
    // The identity's data-plane roles: blobs, the queues of the blob trigger and the durable
    // hub, tables of the hub, Cosmos data.
    for (const r of [
      'storageBlobDataOwner',
      'storageQueueDataContributor',
      'storageTableDataContributor',
    ])
      expect(roles).toMatch(new RegExp(`roleIds\\.${r}`));
    expect(roles).toMatch(/sqlRoleDefinitions\/00000000-0000-0000-0000-000000000002/);
  });

  it('the storage trigger connections are identity-based (blob and queue service, managed identity)', () => {
    const storageTriggers = triggerConnections.filter((c) => !c.includes('EVENTHUBS'));
    expect(storageTriggers).toContain('HAVEN_STORAGE_CONNECTION');
    for (const c of storageTriggers) {
      expect(functions).toMatch(
        new RegExp(
          `name: '${c}__blobServiceUri', value: storage\\.properties\\.primaryEndpoints\\.blob \\}`,
        ),
      );
      expect(functions).toMatch(
        new RegExp(
          `name: '${c}__queueServiceUri', value: storage\\.properties\\.primaryEndpoints\\.queue \\}`,
        ),
      );
      expect(functions).toMatch(
        new RegExp(`name: '${c}__credential', value: 'managedidentity' \\}`),
      );
    }
  });

  it('the deployment creates every Cosmos container of the app, as the app would', async () => {
    expect(cosmos).toMatch(/var containers = loadJsonContent\('cosmosContainers\.json'\)/);
    expect(cosmos).toMatch(/parent: db\s+name: c\.id\s+properties: \{ resource: c \}/);
    expect(cosmos).toMatch(/name: 'haven'/);
    expect(configSchema.shape.cosmos.parse({ endpoint: 'https://c.example/' }).database).toBe(
      'haven',
    );
    // `vitest -u` rewrites the file after a collection changes (formatted as the repo formats).
    const file = join(repoRoot, 'infra', 'modules', 'cosmosContainers.json');
    const expected = await format(JSON.stringify(collections().map(cosmosContainerOf)), {
      ...(await resolveConfig(file)),
      filepath: file,
    });
    await expect(expected).toMatchFileSnapshot(file);
  });

  it('entraOnly turns shared-key access off; Cosmos key auth is off unless asked for', () => {
    expect(storage).toMatch(/allowSharedKeyAccess: !entraOnly/);
    expect(main).toMatch(/entraOnly: entraOnly/);
    expect(cosmos).toMatch(/disableLocalAuth: !keyAuth/);
    expect(cosmos).toMatch(/param keyAuth bool = false/);
    expect(main).toMatch(/param cosmosKeyAuth bool = false/);
    expect(main).toMatch(/keyAuth: cosmosKeyAuth/);
  });

  it('the replicas and recovery base blobs have an account of their own, reached as the main one', () => {
    const mainAccount = storageModule('storage');
    const replicaAccount = storageModule('replicaStorage');
    expect(mainAccount).toMatch(/expireClaimChecks: true/);
    expect(replicaAccount).toMatch(/expireClaimChecks: false/);
    // The containers the app routes to the replica account (app/root.ts), and only those.
    expect(containersOf(replicaAccount).sort()).toEqual([RECOVERY_CONTAINER, REPLICAS].sort());
    expect(containersOf(mainAccount)).not.toContain(REPLICAS);
    expect(containersOf(mainAccount)).not.toContain(RECOVERY_CONTAINER);
    expect(mainAccount).toMatch(/containers: \[[^\]]*deploymentContainer\]/);
    expect(main).toMatch(/deploymentContainerName: deploymentContainer\n/);
    // The same access settings on both: entraOnly, the sites' ranges and the app's subnet.
    for (const account of [mainAccount, replicaAccount])
      for (const p of ['entraOnly', 'siteIpRanges', 'appSubnetId'])
        expect(account).toMatch(new RegExp(`\\n\\s+${p}: ${p}\\n`));
    // The app's settings and its identity's blob role on that account.
    expect(main.match(/replicaStorageAccountName: replicaStorage\.outputs\.name\n/g)).toHaveLength(
      2,
    );
    expect(functions).toMatch(
      /resource replicaStorage 'Microsoft\.Storage\/storageAccounts@[^']+' existing = \{\s*name: replicaStorageAccountName\s*\}/,
    );
    expect(functions).toMatch(
      /name: 'HAVEN_REPLICA_STORAGE_ACCOUNT_URL', value: replicaStorage\.properties\.primaryEndpoints\.blob \}/,
    );
    // Managed-disk Import reads recovery's base blob through the account that holds it.
    expect(functions).toMatch(/name: 'HAVEN_STORAGE_ACCOUNT_ID', value: replicaStorage\.id \}/);
    expect(functions).not.toMatch(/name: 'HAVEN_REPLICA_STORAGE_(CONNECTION|CREDENTIAL)'/);
    const replicaRoles =
      /resource replicaStorageRoles 'Microsoft\.Authorization\/roleAssignments@[^']+' = \[([\s\S]*?)\n\]/.exec(
        roles,
      )?.[1];
    expect(replicaRoles).toMatch(/scope: replicaStorage\n/);
    expect(replicaRoles).toMatch(/roleDefinitions', roleIds\.storageBlobDataOwner\)/);
    expect(roles).toMatch(
      /resource replicaStorage 'Microsoft\.Storage\/storageAccounts@[^']+' existing = \{\s*name: replicaStorageAccountName\s*\}/,
    );
  });

  it('the storage module declares only what a premium page-blob account takes', () => {
    // Premium page blobs: kind StorageV2 with Premium_LRS (LRS only); no lifecycle management,
    // blob versioning, access tier, queues, tables or files.
    expect(storage).toMatch(/kind: 'StorageV2'\n\s*sku: \{ name: sku \}/);
    expect(storage).toMatch(/managementPolicies@[^']+' = if \(expireClaimChecks\) \{/);
    expect(storage).not.toMatch(
      /accessTier|isVersioningEnabled|changeFeed|queueServices|tableServices|fileServices/,
    );
    const sku = /@allowed\(\[([^\]]*)\]\)\nparam replicaStorageSku string = '([A-Za-z_]+)'/.exec(
      main,
    );
    const allowed = [...sku![1]!.matchAll(/'([A-Za-z_]+)'/g)].map((m) => m[1]!);
    for (const s of allowed) expect(s, s).toMatch(/^(Standard_(LRS|ZRS)|Premium_LRS)$/);
    expect(allowed).toContain('Premium_LRS');
    // A premium page blob takes one snapshot per 10 minutes and keeps 100, where the app cuts one
    // per recovery point: standard until the app keeps within that.
    expect(allowed).toContain(sku![2]);
    expect(sku![2]).toMatch(/^Standard_/);
    expect(storageModule('replicaStorage')).toMatch(/sku: replicaStorageSku\n/);
  });

  it('the app wraps data keys with the vault key the deployment makes, by identity, with wrap/unwrap rights', () => {
    expect(functions).toMatch(/name: 'HAVEN_KEYVAULT_URL', value: keyVaultUri \}/);
    expect(functions).toMatch(/name: 'HAVEN_KEK_KEY_NAME', value: kekKeyName \}/);
    expect(functions).toMatch(/name: 'HAVEN_KEYVAULT_CREDENTIAL', value: 'managed-identity' \}/);
    expect(main).toMatch(/kekKeyName: keyVault\.outputs\.kekKeyName/);
    expect(keyVault).toMatch(/output kekKeyName string = kek\.name/);
    const key =
      /resource kek 'Microsoft\.KeyVault\/vaults\/keys@[^']+' = \{[^}]*name: '([a-z0-9-]+)'\s*properties: \{([^}]*)\}/.exec(
        keyVault,
      );
    expect(key?.[1]).toBe('haven-kek-wrap');
    // RSA-OAEP-256 of a 64-byte plaintext (data key + AAD hash) needs a 2048-bit key or larger.
    expect(key![2]).toMatch(
      /kty: 'RSA', keySize: (2048|3072|4096), keyOps: \['wrapKey', 'unwrapKey'\]/,
    );
    expect(roles).toMatch(/keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'/);
    expect(roles).toMatch(/roleIds\.keyVaultCryptoUser/);
  });

  it("recovery reaches Azure: the ARM settings, the recovery group and the identity's roles there", () => {
    // The settings that turn the ARM target on, by the app's system-assigned identity.
    expect(functions).toMatch(
      /name: 'HAVEN_ARM_SUBSCRIPTION_ID', value: subscription\(\)\.subscriptionId \}/,
    );
    expect(functions).toMatch(/name: 'HAVEN_ARM_CREDENTIAL', value: 'managed-identity' \}/);
    expect(functions).toMatch(/identity: \{ type: 'SystemAssigned' \}/);
    expect(functions).not.toMatch(/name: 'HAVEN_ARM_(CLIENT_ID|TOKEN|ENDPOINT|CA_CERT)'/);
    expect(
      loadConfig({
        HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true',
        HAVEN_COSMOS_ENDPOINT: 'https://c.example/',
        HAVEN_ARM_SUBSCRIPTION_ID: 's',
        HAVEN_ARM_CREDENTIAL: 'managed-identity',
      }).recoveryTarget?.endpoint,
    ).toBe('https://management.azure.com');
    // The group the app recovers into is the one the deployment makes, under the app's default name.
    expect(functions).toMatch(
      /name: 'HAVEN_RECOVERY_RESOURCE_GROUP', value: recoveryResourceGroupName \}/,
    );
    expect(functions).toMatch(/name: 'HAVEN_RECOVERY_LOCATION', value: recoveryLocation \}/);
    expect(main).toMatch(/\n\s+recoveryResourceGroupName: recoveryRg\.name\n/);
    expect(main).toMatch(/\n\s+recoveryLocation: recoveryLocation\n/);
    const group =
      /resource recoveryRg 'Microsoft\.Resources\/resourceGroups@[^']+' = \{([^}]*)\}/.exec(
        main,
      )?.[1];
    expect(group).toMatch(/name: recoveryResourceGroupName\n/);
    expect(group).toMatch(/location: recoveryLocation\n/);
    const defaultName = /\nparam recoveryResourceGroupName string = '([^']+)'/.exec(main)?.[1];
    expect(defaultName).toBe(configSchema.shape.recoveryResourceGroup.parse(undefined) as string);
    expect(main).toMatch(/\nparam recoveryLocation string = location\n/);
    // The roles, assigned to the app's identity at the recovery group's scope.
    const module = /module recoveryRoles 'modules\/recoveryRoles\.bicep' = \{([^}]*\})\s*\}/.exec(
      main,
    )?.[1];
    expect(module).toMatch(/scope: recoveryRg\n/);
    expect(module).toMatch(/params: \{ principalId: functions\.outputs\.principalId \}/);
    expect(recoveryRoles).not.toMatch(/\bscope:|targetScope/);
    const assigned = /for r in \[([^\]]*)\]/
      .exec(recoveryRoles)![1]!
      .split(',')
      .map((r) => /roleIds\.(\w+)/.exec(r)![1]!);
    const ids = Object.fromEntries(
      [...recoveryRoles.matchAll(/\n\s+(\w+): '([0-9a-f-]{36})'/g)].map((m) => [m[1]!, m[2]!]),
    );
    // Built-in role ids: Virtual Machine Contributor (disks, VMs, NICs), Network Contributor
    // (vnets, NSGs, public IPs), Disk Snapshot Contributor (failback's snapshots and their read
    // grants), Reader (listing the group for a drill's leftovers).
    expect(assigned.map((r) => ids[r]).sort()).toEqual(
      [
        '9980e02c-c2be-4d73-94e8-173b1dc7cf3c',
        '4d97b98b-1d4f-4787-a291-c67834d212e7',
        '7efff54f-a5b4-42b5-a1c5-5411624893ce',
        'acdd72a7-3385-48ef-bd42-f606fba81ae7',
      ].sort(),
    );
    expect(recoveryRoles).toMatch(
      /principalId: principalId\n\s+principalType: 'ServicePrincipal'\n\s+roleDefinitionId: subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', r\)/,
    );
    // Import names the replica account: the app's identity has Reader and Data Access on it.
    const importRole =
      /resource replicaImportRole 'Microsoft\.Authorization\/roleAssignments@[^']+' = \{([\s\S]*?)\n\}/.exec(
        roles,
      )?.[1];
    expect(importRole).toMatch(/scope: replicaStorage\n/);
    expect(importRole).toMatch(/principalId: appPrincipalId\n/);
    expect(importRole).toMatch(/roleDefinitions', roleIds\.readerAndDataAccess\)/);
    expect(roles).toMatch(/readerAndDataAccess: 'c12c1c16-33a1-487b-954d-41c89c60f349'/);
    expect(main).toMatch(/appPrincipalId: functions\.outputs\.principalId\n/);
  });

  it('no Event Hubs rule both listens and sends; the one signing agent tokens only sends', () => {
    const rules = [
      ...eventHubs.matchAll(/name: '([a-z-]+)'\s*properties: \{ rights: \[([^\]]*)\]/g),
    ];
    expect(rules.map((r) => r[1])).toEqual(['haven-listen', 'haven-agent-signing']);
    for (const [, , rights] of rules) expect(rights!.split(',')).toHaveLength(1);
    expect(rules.find((r) => r[1] === 'haven-agent-signing')![2]).toBe("'Send'");
    expect(secrets).toMatch(/signingRule\.listKeys\(\)/);
  });
});
