import { BlobServiceClient } from '@azure/storage-blob';
import { REPLICAS } from '../../core/replication/names';
import type { LocalStack } from '../stack/startLocalStack';

/**
 * Where the demo's replica landed: in the replica account (as a deployment keeps replicas in an
 * account of their own), and not in the main one, which holds staging and the rest. Throws
 * otherwise; returns the line the demo prints.
 */
export async function checkReplicaAccount(stack: LocalStack): Promise<string> {
  const replicaConnection = stack.settings.HAVEN_REPLICA_STORAGE_CONNECTION;
  if (!replicaConnection) throw new Error('the demo stack has no replica account');
  const replicaAccount = BlobServiceClient.fromConnectionString(replicaConnection);
  const main = BlobServiceClient.fromConnectionString(stack.settings.HAVEN_STORAGE_CONNECTION!);
  const replicas: string[] = [];
  for await (const b of replicaAccount.getContainerClient(REPLICAS).listBlobsFlat())
    replicas.push(b.name);
  if (replicas.length === 0) throw new Error(`no replica in account ${replicaAccount.accountName}`);
  if (await main.getContainerClient(REPLICAS).exists())
    throw new Error(`account ${main.accountName} has a '${REPLICAS}' container too`);
  return `replica page blob ${replicas[0]} in storage account '${replicaAccount.accountName}', none in '${main.accountName}' (staging, claim checks, indexes)`;
}
