import { createServer } from 'node:net';

export class PortBusyError extends Error {
  constructor(
    readonly port: number,
    readonly hostname: string,
  ) {
    super(`Port ${port} on ${hostname} is already in use.`);
    this.name = 'PortBusyError';
  }
}

/**
 * Where port 0 is claimed from: below Linux's ephemeral range (32768–60999 by default). The
 * caller binds the port later, after starting other services; a port from the ephemeral range
 * could meanwhile become the local end of any outgoing connection on the machine (a stack's
 * host once failed to start that way).
 */
export const CLAIMED_PORTS = { from: 20000, to: 32767 };

/** Resolves `port` (0 = any free one, see CLAIMED_PORTS) to a port free right now on `hostname`. */
export async function claimPort(port: number, hostname: string): Promise<number> {
  if (port !== 0) return listenOnce(port, hostname);
  const { from, to } = CLAIMED_PORTS;
  for (let i = 0; i < 50; i++) {
    const candidate = from + Math.floor(Math.random() * (to - from + 1));
    try {
      return await listenOnce(candidate, hostname);
    } catch (e) {
      if (!(e instanceof PortBusyError)) throw e;
    }
  }
  return listenOnce(0, hostname);
}

function listenOnce(port: number, hostname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new PortBusyError(port, hostname) : e,
      ),
    );
    srv.listen(port, hostname, () => {
      const actual = (srv.address() as { port: number }).port;
      srv.close(() => resolve(actual));
    });
  });
}
