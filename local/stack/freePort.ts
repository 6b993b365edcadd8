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

/** Resolves `port` (0 = any free one) to a port that is free right now on `hostname`. */
export function claimPort(port: number, hostname: string): Promise<number> {
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
