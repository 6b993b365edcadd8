import { CosmosClient } from '@azure/cosmos';
import { REPLICATION_DISKS } from '../../core/replication/state';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a machine's disk watermarks in Cosmos: when hydration reached each bookmark time, cut
 * or merged past (`lastBookmarkAt`). A point merged into a later one while hydrate caught up
 * has no `materializedAt`, and the later point's includes the wait for its bookmark to be cut:
 * "reached" is what a failover at that moment would have waited for.
 */
export class HydrationWatcher {
  /** (when seen, the lowest `lastBookmarkAt` over the machine's disks), ascending. */
  private readonly seen: { at: number; bookmarkAt: number }[] = [];
  private stopped = false;
  private loop?: Promise<void>;
  private readonly client: CosmosClient;

  constructor(
    endpoint: string,
    key: string,
    private readonly machineId: string,
  ) {
    this.client = new CosmosClient({
      endpoint,
      key,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
  }

  start(): void {
    const container = this.client.database('haven').container(REPLICATION_DISKS.name);
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const { resources } = await container.items
            .query<{ lastBookmarkAt?: string }>({
              query: 'SELECT c.lastBookmarkAt FROM c WHERE c.machineId = @m',
              parameters: [{ name: '@m', value: this.machineId }],
            })
            .fetchAll();
          const at = Date.now();
          const marks = resources.map((r) => Date.parse(r.lastBookmarkAt ?? ''));
          const low = marks.length && marks.every(Number.isFinite) ? Math.min(...marks) : NaN;
          if (Number.isFinite(low)) this.seen.push({ at, bookmarkAt: low });
        } catch {
          /* the emulator is busy; try again */
        }
        await sleep(250);
      }
    })();
  }

  /** When every disk had applied the bookmark at `time` (ms since the epoch), if seen. */
  reached(time: number): number | undefined {
    return this.seen.find((s) => s.bookmarkAt >= time)?.at;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.client.dispose();
  }
}
