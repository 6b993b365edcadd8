import { PartitionKeyKind, type ContainerDefinition } from '@azure/cosmos';
import type { CollectionDef } from '../../core/documents/ports';
import { planQuery } from '../../core/documents/query';

/**
 * The Cosmos container of a collection: what the adapter creates when it is missing, and what
 * the deployment creates beforehand (infra/modules/cosmosContainers.json, kept equal by
 * test/architecture): with Entra ID auth only, the app's identity cannot create containers.
 */
export function cosmosContainerOf(def: CollectionDef): ContainerDefinition {
  return {
    id: def.name,
    partitionKey: { paths: [`/${def.partitionKey}`], kind: PartitionKeyKind.Hash },
    // Expiring collections: TTL on, per item (-1: an item expires only when it sets `ttl`, as
    // rejections do); reads skip expired items before Cosmos deletes them.
    ...(def.expiresAtField ? { defaultTtl: -1 } : {}),
    ...(def.orderings?.length
      ? {
          indexingPolicy: {
            // The service's default paths, spelled out: a deployment template sets no defaults.
            indexingMode: 'consistent' as const,
            includedPaths: [{ path: '/*' }],
            // Exactly the ORDER BY that planQuery produces (id follows the last key).
            compositeIndexes: def.orderings.map((ord) =>
              planQuery({ orderBy: ord }).orderBy.map((o) => ({
                path: `/${o.field.replace(/\./g, '/')}`,
                order: o.direction === 'desc' ? ('descending' as const) : ('ascending' as const),
              })),
            ),
          },
        }
      : {}),
  };
}
