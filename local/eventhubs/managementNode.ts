import type { EventContext } from 'rhea';
import { amqpTypes } from './amqpMessage';
import type { ConnectionAuth } from './connectionAuth';
import { EmulatorError } from './emulatorError';
import type { EventHubStore } from './eventHubStore';
import { respond } from './respond';

/** The `$management` node: hub and partition properties, which the SDK reads before it connects. */
export class ManagementNode {
  constructor(
    private readonly hubs: EventHubStore,
    private readonly auth: ConnectionAuth,
  ) {}

  onRequest(ctx: EventContext): void {
    const request = ctx.message!;
    const props = request.application_properties ?? {};
    try {
      if (props.operation !== 'READ') {
        throw new EmulatorError(
          'amqp:not-implemented',
          501,
          `Unsupported operation '${String(props.operation)}'.`,
        );
      }
      const hub = this.hubs.hub(String(props.name ?? ''));
      if (props.security_token !== undefined) {
        const claim = this.auth.verifyToken(props.security_token);
        this.auth.addClaim(ctx.connection, claim);
      }
      this.auth.authorize(ctx.connection, [hub.def.name.toLowerCase(), '$management'], 'Read');
      const type = String(props.type ?? '');
      if (type === 'com.microsoft:eventhub') {
        respond(ctx, '$management', request, 200, 'OK', {
          name: hub.def.name,
          created_at: hub.createdAt,
          partition_count: amqpTypes.wrap(hub.partitions.length),
          partition_ids: hub.partitions.map((_, i) => String(i)),
          type: 'com.microsoft:eventhub',
        });
      } else if (type === 'com.microsoft:partition') {
        const id = String(props.partition ?? '');
        const log = this.hubs.partition(hub, id);
        const last = log.lastCommitted;
        respond(ctx, '$management', request, 200, 'OK', {
          name: hub.def.name,
          partition: id,
          type: 'com.microsoft:partition',
          begin_sequence_number: amqpTypes.wrap_long(log.beginSequenceNumber),
          last_enqueued_sequence_number: amqpTypes.wrap_long(last ? last.seq : -1),
          last_enqueued_offset: last ? String(last.offset) : '-1',
          last_enqueued_time_utc: new Date(last ? last.time : 0),
          is_partition_empty: !last,
        });
      } else {
        throw new EmulatorError('com.microsoft:argument-error', 400, `Unknown type '${type}'.`);
      }
    } catch (e) {
      const err =
        e instanceof EmulatorError ? e : new EmulatorError('amqp:internal-error', 500, String(e));
      respond(ctx, '$management', request, err.status, err.message, undefined, err.condition);
    }
    ctx.delivery?.accept();
  }
}
