import { createServer, type Server, type Socket } from 'node:net';
import { listenPrivate } from './privateSocket';
import type { NbdExport } from './blockDevice';
import { NbdConnection } from './nbdConnection';

/**
 * A fixed-newstyle NBD server (NetworkBlockDevice proto.md) over a Unix socket or loopback TCP.
 * Simple replies only (structured replies are optional in the spec and the clients we target
 * fall back). Requests are handled in arrival order; a request whose device call completes
 * synchronously is answered in the same event-loop turn, slower ones (large writes done in the
 * thread pool, FUA, FLUSH) are answered when they complete, which NBD allows (replies are
 * matched by cookie).
 */
export interface NbdServerOptions {
  exports: NbdExport[];
  /**
   * The Unix socket (mode 0600). NBD has no authentication, so the disk is served on a socket
   * only its owner can open, never on TCP (any local user could read and write the disk).
   */
  socketPath: string;
  log?: (msg: string) => void;
}

export class NbdServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly log: (msg: string) => void;
  /** Bound address after listen(). */
  address?: { socketPath: string };

  constructor(private readonly opts: NbdServerOptions) {
    this.log = opts.log ?? (() => {});
    if (opts.exports.length === 0) throw new Error('NbdServer: no exports');
  }

  async listen(): Promise<void> {
    // Paused: the connection starts the reads itself, into buffers it chooses (socketReads.ts).
    const server = createServer({ pauseOnConnect: true }, (s) => this.onConnection(s));
    this.server = server;
    await listenPrivate(server, this.opts.socketPath);
    this.address = { socketPath: this.opts.socketPath };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private findExport(name: string): NbdExport | undefined {
    // The empty name is the default export (qemu's nbd+unix:/// URIs ask for it).
    if (name === '') return this.opts.exports[0];
    return this.opts.exports.find((e) => e.name === name);
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay?.(true);
    const conn = new NbdConnection(sock, this, this.log);
    sock.on('close', () => {
      this.sockets.delete(sock);
      conn.closed = true;
    });
    sock.on('error', () => sock.destroy());
  }

  /** @internal */
  lookup(name: string): NbdExport | undefined {
    return this.findExport(name);
  }
  /** @internal */
  list(): NbdExport[] {
    return this.opts.exports;
  }
}
