import type { Socket } from 'node:net';
import type { Connection } from 'rhea';

interface RheaFrame {
  performative?: unknown;
  payload?: Buffer;
}
interface RheaTransport {
  header_sent?: unknown;
  pending: RheaFrame[];
  write(socket: Socket): void;
}
// rhea's frame encoder (internal module; rhea has no exports map).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rheaFrames = require('rhea/lib/frames.js') as { write_frame(f: RheaFrame): Buffer };

/**
 * rhea encodes every frame into a fresh zero-filled buffer and copies the payload in: for
 * ~1 MiB events that is two extra passes over every byte delivered. On the endpoint's own
 * connections, large transfer payloads (immutable log records) are written to the socket
 * as they are, after their frame head; everything else is encoded as rhea does. Same bytes
 * on the wire; writes are corked into one writev.
 */
export function zeroCopyTransfers(conn: Connection): void {
  const transport = (conn as unknown as { amqp_transport?: RheaTransport }).amqp_transport;
  if (!transport) return;
  const original = transport.write.bind(transport);
  transport.write = (socket: Socket): void => {
    if (!transport.header_sent) return original(socket);
    socket.cork();
    try {
      for (const frame of transport.pending) {
        const payload = frame.payload;
        if (frame.performative && payload && payload.length >= 16 * 1024) {
          const head = rheaFrames.write_frame({ ...frame, payload: undefined });
          head.writeUInt32BE(head.length + payload.length, 0);
          socket.write(head);
          socket.write(payload);
        } else {
          socket.write(rheaFrames.write_frame(frame));
        }
      }
      transport.pending = [];
    } finally {
      socket.uncork();
    }
  };
}
