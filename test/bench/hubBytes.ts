import {
  EventHubConsumerClient,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';

/** What the agent put on the wire, read back from the hub itself ($Default consumer group). */
export class HubBytes {
  private readonly client: EventHubConsumerClient;
  constructor(connection: string, hub: string) {
    this.client = new EventHubConsumerClient('$Default', connection, hub);
  }

  async positions(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of await this.client.getPartitionIds()) {
      const p = await this.client.getPartitionProperties(id);
      out.set(id, p.isEmpty ? -1 : p.lastEnqueuedSequenceNumber);
    }
    return out;
  }

  /** Bytes of the events after `from` up to `to`: inline envelopes plus the claim-checked ones. */
  async between(
    from: Map<string, number>,
    to: Map<string, number>,
  ): Promise<{ events: number; eventBytes: number; envelopeBytes: number; claims: number }> {
    const tally = { events: 0, eventBytes: 0, envelopeBytes: 0, claims: 0 };
    const want = [...to].filter(([id, last]) => last > (from.get(id) ?? -1));
    if (want.length === 0) return tally;
    await new Promise<void>((done, fail) => {
      let open = want.length;
      const subs: Subscription[] = [];
      const timer = setTimeout(() => fail(new Error('hub read-back timed out')), 120_000);
      for (const [id, last] of want) {
        const sub = this.client.subscribe(
          id,
          {
            processEvents: async (events: ReceivedEventData[]) => {
              for (const e of events) {
                if (e.sequenceNumber > last) continue;
                const body = e.body as Buffer;
                tally.events++;
                tally.eventBytes += body.length;
                if (e.contentType?.includes('claim')) {
                  tally.claims++;
                  tally.envelopeBytes += (
                    JSON.parse(body.toString('utf8')) as { size: number }
                  ).size;
                } else tally.envelopeBytes += body.length;
                if (e.sequenceNumber === last && --open === 0) {
                  clearTimeout(timer);
                  void Promise.all(subs.map((s) => s.close())).then(() => done());
                }
              }
            },
            processError: async (e) => fail(e),
          },
          {
            startPosition: { sequenceNumber: from.get(id) ?? -1, isInclusive: false },
            skipParsingBodyAsJson: true,
            maxBatchSize: 100,
            maxWaitTimeInSeconds: 1,
          },
        );
        subs.push(sub);
      }
    });
    return tally;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
