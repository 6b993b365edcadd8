import { CosmosClient } from '@azure/cosmos';
import { adminApi, type AdminTarget } from '../../support/adminApi';

/** What the replication data path recorded about a machine, straight from the Cosmos documents. */
export interface Incidents {
  rejections: { kind: string; reason: string; seq?: number }[];
  /** Alerts that say data was refused, conflicting or corrupt. */
  alerts: { kind: string; message: string; seq?: number }[];
  /**
   * RPO alerts: replication is late (time-based: a loaded machine or a stack stopped on purpose
   * raises them), which says nothing about whether data is right; kept apart from `alerts`.
   */
  rpoAlerts: { kind: string; message: string }[];
  disks: {
    diskId: string;
    generation: number;
    appliedSeq: number;
    /** Disk bytes the hydrator applied to that generation's replica (what the agent sent). */
    bytesApplied: number;
    stopped?: unknown;
  }[];
}

const RPO_ALERT = 'replication-rpo';

export async function incidents(stack: AdminTarget, machineId: string): Promise<Incidents> {
  const client = new CosmosClient({
    endpoint: stack.env.HAVEN_COSMOS_ENDPOINT!,
    key: stack.env.HAVEN_COSMOS_KEY!,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  try {
    const db = client.database('haven');
    const read = async <T>(container: string): Promise<T[]> => {
      try {
        const { resources } = await db
          .container(container)
          .items.query<T>({
            query: 'SELECT * FROM c WHERE c.machineId = @m',
            parameters: [{ name: '@m', value: machineId }],
          })
          .fetchAll();
        return resources;
      } catch (e) {
        if ((e as { code?: number }).code === 404) return []; // container not created yet
        throw e;
      }
    };
    // Disks first: a stop is written after its alert, so a stopped disk read here has its alert
    // in the read after it (read together, the alert could be read before it was written).
    const disks = await read<Incidents['disks'][number]>('replicationDisks');
    const [rejections, alerts] = await Promise.all([
      read<Incidents['rejections'][number]>('rejections'),
      read<Incidents['alerts'][number]>('alerts'),
    ]);
    return {
      rejections,
      alerts: alerts.filter((a) => a.kind !== RPO_ALERT),
      rpoAlerts: alerts.filter((a) => a.kind === RPO_ALERT),
      disks,
    };
  } finally {
    client.dispose();
  }
}

/** GET /api/machines/{id}: the admin's view (health.errors, per-disk watermarks). */
export const machineView = (stack: AdminTarget, machineId: string) =>
  adminApi<{ health?: { errors?: unknown[]; disks?: unknown[] } }>(
    stack,
    'GET',
    `machines/${machineId}`,
  );
