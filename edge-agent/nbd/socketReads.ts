import type { Socket } from 'node:net';

/** Where a connection's bytes go. */
export interface SocketSink {
  /**
   * A buffer the next read should fill from its start (the rest of a large WRITE payload), or
   * undefined: the bytes may land anywhere and are handed over with `chunk`.
   */
  target(): Buffer | undefined;
  /** `n` bytes were read into the start of the buffer `target()` returned. */
  filled(n: number): void;
  /** Bytes read while no target was set. The buffer is the sink's (never written again). */
  chunk(b: Buffer): void;
  /** At most this many bytes for the next read without a target (default: as many as fit). */
  readLimit?(): number | undefined;
}

/** Reads land in slices of one slab; a fresh slab once less than this is left. */
const SLAB_BYTES = 1024 * 1024;
const MIN_READ_BYTES = 64 * 1024;

/**
 * Starts reading a socket accepted paused (`pauseOnConnect`) into buffers the sink chooses.
 *
 * Why: a stream socket reads 64 KiB at a time into a fresh buffer, so a 1 MiB WRITE payload
 * arrives as 16 buffers that are then joined by a copy; meanwhile the client (fio, the kernel's
 * nbd driver) can only hold ~200 KiB in the socket. Node's `onread` reads into buffers the
 * caller chooses: the payload's own buffer, as much as the socket holds per read. `onread` is
 * an option of sockets a program creates, not of those a server accepts, so it is set up here
 * the way the Socket constructor does it (the same three fields, by their symbol names). Where
 * those fields are missing (another Node), the socket's 'data' events are used: the same bytes,
 * one copy more. Returns whether reads go straight into the sink's buffers.
 */
export function readSocketInto(sock: Socket, sink: SocketSink): boolean {
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  const symbols = new Map(Object.getOwnPropertySymbols(sock).map((s) => [s.description, s]));
  const kBuffer = symbols.get('kBuffer');
  const kBufferCb = symbols.get('kBufferCb');
  const kBufferGen = symbols.get('kBufferGen');
  if (!handle?.useUserBuffer || !kBuffer || !kBufferCb || !kBufferGen) {
    sock.on('data', (b: Buffer) => sink.chunk(b));
    sock.resume();
    return false;
  }
  let slab = Buffer.allocUnsafe(SLAB_BYTES);
  let used = 0;
  let direct = false;
  const next = (): Buffer => {
    const t = sink.target();
    direct = t !== undefined;
    if (t) return t;
    if (slab.length - used < MIN_READ_BYTES) {
      slab = Buffer.allocUnsafe(SLAB_BYTES);
      used = 0;
    }
    const limit = sink.readLimit?.();
    return limit ? slab.subarray(used, used + limit) : slab.subarray(used);
  };
  const onRead = (n: number): void => {
    if (direct) {
      sink.filled(n);
      return;
    }
    const b = slab.subarray(used, used + n);
    used += n;
    sink.chunk(b);
  };
  const s = sock as unknown as Record<symbol, unknown>;
  const first = next();
  s[kBuffer] = first;
  s[kBufferCb] = onRead;
  s[kBufferGen] = next;
  handle.useUserBuffer(first);
  sock.resume();
  return true;
}
