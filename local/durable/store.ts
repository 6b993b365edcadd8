import { TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import type { EngineState, InboxMessage } from './engineState';
import type { HistoryEvent } from './history';
import { esc, type InboxRow, type InstanceRow, type OutboxMessage } from './hubRows';

/** Table string properties hold 64 KiB; longer texts go to the large-message container. */
const MAX_INLINE = 30_000;
const BLOB_MARK = '\u0000blob:';

/**
 * Task-hub storage in Azure Tables (Azurite locally), one partition per instance (layout:
 * hubRows.ts), large texts in the hub's large-message container.
 */
export class HubStore {
  readonly table: TableClient;
  readonly container: ContainerClient;

  constructor(
    connectionString: string,
    readonly hubName: string,
  ) {
    this.table = TableClient.fromConnectionString(connectionString, `${hubName}Instances`, {
      allowInsecureConnection: true,
    });
    this.container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
      `${hubName.toLowerCase()}-largemessages`,
    );
  }

  async init(): Promise<void> {
    await this.table.createTable().catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 409) throw e;
    });
    await this.container.createIfNotExists();
  }

  /** Returns the text to store in a property, offloading large texts to a blob first. */
  async pack(instanceId: string, text: string | null | undefined): Promise<string | null> {
    if (text === null || text === undefined) return null;
    if (text.length <= MAX_INLINE) return text;
    const name = `${instanceId}/${Date.now()}-${randomBytes(6).toString('hex')}.json`;
    await this.container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    return BLOB_MARK + name;
  }

  async unpack(value: unknown): Promise<string | null> {
    if (typeof value !== 'string') return null;
    if (!value.startsWith(BLOB_MARK)) return value;
    const buf = await this.container
      .getBlobClient(value.slice(BLOB_MARK.length))
      .downloadToBuffer();
    return buf.toString('utf8');
  }

  async instanceEntity(row: InstanceRow): Promise<TableEntity> {
    return {
      partitionKey: row.instanceId,
      rowKey: 'i',
      Name: row.name,
      Status: row.status,
      Input: await this.pack(row.instanceId, row.input),
      Output: await this.pack(row.instanceId, row.output),
      CustomStatus: await this.pack(row.instanceId, row.customStatus),
      CreatedTime: row.createdTime,
      LastUpdatedTime: row.lastUpdatedTime,
      ExecutionId: row.executionId,
      Parent: row.parent ? JSON.stringify(row.parent) : '',
      Ep: row.ep,
      St: await this.pack(row.instanceId, JSON.stringify(row.state)),
    };
  }

  async toInstance(e: Record<string, unknown>): Promise<InstanceRow> {
    return {
      instanceId: String(e.partitionKey),
      name: String(e.Name ?? ''),
      status: String(e.Status ?? 'Pending'),
      input: await this.unpack(e.Input),
      output: await this.unpack(e.Output),
      customStatus: await this.unpack(e.CustomStatus),
      createdTime: String(e.CreatedTime),
      lastUpdatedTime: String(e.LastUpdatedTime),
      executionId: String(e.ExecutionId),
      parent: e.Parent ? (JSON.parse(String(e.Parent)) as InstanceRow['parent']) : null,
      ep: Number(e.Ep ?? 0),
      state: JSON.parse((await this.unpack(e.St)) ?? '{}') as EngineState,
      etag: typeof e.etag === 'string' ? e.etag : undefined,
    };
  }

  /** Lightweight read of the instance row without unpacking blobs (status checks). */
  async getInstance(instanceId: string): Promise<InstanceRow | undefined> {
    try {
      const e = await this.table.getEntity(instanceId, 'i');
      return await this.toInstance(e);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** The instance row plus its inbox and outbox (`RowKey ge 'i'`), in one query. */
  async readPartitionHead(instanceId: string): Promise<{
    instance?: InstanceRow;
    inbox: InboxRow[];
    outbox: { rowKey: string; msg: OutboxMessage; ep: number }[];
  }> {
    const inbox: InboxRow[] = [];
    const outbox: { rowKey: string; msg: OutboxMessage; ep: number }[] = [];
    let instance: InstanceRow | undefined;
    const it = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${esc(instanceId)}' and RowKey ge 'i'` },
    });
    for await (const e of it) {
      const rk = String(e.rowKey);
      if (rk === 'i') instance = await this.toInstance(e);
      else if (rk.startsWith('m|'))
        inbox.push({
          rowKey: rk,
          msg: JSON.parse((await this.unpack(e.D)) ?? 'null') as InboxMessage,
          visibleAt: Number(e.V ?? 0),
          ep: Number(e.Ep ?? 0),
        });
      else if (rk.startsWith('o|'))
        outbox.push({
          rowKey: rk,
          msg: JSON.parse((await this.unpack(e.D)) ?? 'null') as OutboxMessage,
          ep: Number(e.Ep ?? 0),
        });
    }
    inbox.sort((a, b) => (a.rowKey < b.rowKey ? -1 : 1));
    return { instance, inbox, outbox };
  }

  /** History of one execution, episodes up to `uptoEp` (later rows are crash leftovers). */
  async readHistory(
    instanceId: string,
    executionId: string,
    uptoEp: number,
  ): Promise<HistoryEvent[]> {
    const rows: { rk: string; d: string }[] = [];
    const it = this.table.listEntities<Record<string, unknown>>({
      queryOptions: {
        filter: `PartitionKey eq '${esc(instanceId)}' and RowKey ge 'h|${esc(executionId)}|' and RowKey lt 'h|${esc(executionId)}|~'`,
      },
    });
    for await (const e of it) {
      const ep = Number(String(e.rowKey).split('|')[2]);
      if (ep <= uptoEp) rows.push({ rk: String(e.rowKey), d: (await this.unpack(e.D)) ?? '[]' });
    }
    rows.sort((a, b) => (a.rk < b.rk ? -1 : 1));
    return rows.flatMap((r) => JSON.parse(r.d) as HistoryEvent[]);
  }

  async inboxEntity(
    instanceId: string,
    rowKey: string,
    msg: InboxMessage,
    visibleAt = 0,
    ep = 0,
  ): Promise<TableEntity> {
    return {
      partitionKey: instanceId,
      rowKey,
      D: await this.pack(instanceId, JSON.stringify(msg)),
      V: visibleAt,
      Ep: ep,
    };
  }

  /** Submits actions of one partition; > 100 actions go in several transactions, the last one committing. */
  async submit(actions: TransactionAction[]): Promise<void> {
    for (let i = 0; i < actions.length; i += 100) {
      await this.table.submitTransaction(actions.slice(i, i + 100));
    }
  }

  /** Deletes a row that may already be gone (work items and outbox rows are deleted idempotently). */
  async deleteIfPresent(partitionKey: string, rowKey: string): Promise<void> {
    await this.table.deleteEntity(partitionKey, rowKey).catch(() => undefined);
  }

  async listByRowKeyRange(from: string, to: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    const it = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `RowKey ge '${from}' and RowKey lt '${to}'` },
    });
    for await (const e of it) out.push(e);
    return out;
  }

  async listInstances(): Promise<InstanceRow[]> {
    const out: InstanceRow[] = [];
    const it = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `RowKey eq 'i'` },
    });
    for await (const e of it) out.push(await this.toInstance(e));
    return out;
  }

  /** Deletes every row of the instance's partition and its large messages. */
  async purge(instanceId: string): Promise<number> {
    const keys: string[] = [];
    let found = 0;
    const it = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${esc(instanceId)}'`, select: ['RowKey'] },
    });
    for await (const e of it) {
      keys.push(String(e.rowKey));
      if (e.rowKey === 'i') found = 1;
    }
    for (let i = 0; i < keys.length; i += 100) {
      await this.table.submitTransaction(
        keys
          .slice(i, i + 100)
          .map((rk) => ['delete', { partitionKey: instanceId, rowKey: rk }] as TransactionAction),
      );
    }
    for await (const b of this.container.listBlobsFlat({ prefix: `${instanceId}/` })) {
      await this.container.deleteBlob(b.name).catch(() => undefined);
    }
    return found;
  }
}
