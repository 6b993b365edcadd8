import type { Connection, EventContext, Message, Receiver, Sender } from 'rhea';

function linksOf(conn: Connection): Array<Sender | Receiver> {
  const out: Array<Sender | Receiver> = [];
  const sessions = (
    conn as unknown as {
      local_channel_map: Record<string, { links: Record<string, Sender | Receiver> }>;
    }
  ).local_channel_map;
  for (const session of Object.values(sessions ?? {})) {
    for (const link of Object.values(session.links ?? {})) out.push(link);
  }
  return out;
}

function replySender(conn: Connection, replyTo: unknown, via: string): Sender | undefined {
  let fallback: Sender | undefined;
  for (const link of linksOf(conn)) {
    if (!link.is_sender() || !link.is_open()) continue;
    const remote = (
      link as unknown as {
        remote: { attach?: { target?: { address?: string }; source?: { address?: string } } };
      }
    ).remote.attach;
    if (remote?.target?.address === replyTo) return link as Sender;
    if (remote?.source?.address === via) fallback = link as Sender;
  }
  return fallback;
}

/** Answers a request on the `$cbs` or `$management` node over the client's reply link. */
export function respond(
  ctx: EventContext,
  via: string,
  request: Message,
  status: number,
  description: string,
  body?: unknown,
  condition?: string,
): void {
  const sender = replySender(ctx.connection, request.reply_to, via);
  // The SDK reads either spelling (core-amqp's request-response link accepts both).
  const props: Record<string, unknown> = {
    'status-code': status,
    'status-description': description,
    statusCode: status,
    statusDescription: description,
  };
  if (condition) props['error-condition'] = condition;
  sender?.send({
    correlation_id: request.message_id,
    to: request.reply_to,
    application_properties: props,
    body,
  });
}
