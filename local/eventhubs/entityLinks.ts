import type { Receiver, Sender } from 'rhea';
import type { ConnectionAuth } from './connectionAuth';
import { EmulatorError, type AmqpError } from './emulatorError';
import type { EventHubStore } from './eventHubStore';

/** What producer and consumer links share: the hubs, who may use them, how refusals look. */
export abstract class EntityLinks {
  constructor(
    /** Only names entities in not-found errors, as the service does. */
    protected readonly host: string,
    protected readonly hubs: EventHubStore,
    protected readonly auth: ConnectionAuth,
    protected readonly say: (msg: string) => void,
  ) {}

  /** The attach frame the client sent (rhea keeps it but does not type it). */
  protected remoteAttach<T>(link: Sender | Receiver): T {
    return (link as unknown as { remote: { attach: T } }).remote.attach;
  }

  /** Detaches a link the client may not open, with the condition the SDK maps to an error type. */
  protected refuse(link: Sender | Receiver, err: unknown): void {
    const e =
      err instanceof EmulatorError
        ? err
        : new EmulatorError('amqp:internal-error', 500, String(err));
    this.say(`link '${link.name}' refused: ${e.message}`);
    link.close({ condition: e.condition, description: e.message } as AmqpError);
  }
}
