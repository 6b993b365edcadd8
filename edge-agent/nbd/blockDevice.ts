/**
 * What the NBD server needs from whatever stores the disk. Reads and plain writes may complete
 * synchronously (returning void) so that a request's effect and its reply happen in the same
 * event-loop turn: this is what makes a bookmark fall cleanly between acknowledged writes.
 * Anything that has to wait (FUA, FLUSH, a durable bitmap update) returns a promise.
 */
export interface BlockDevice {
  readonly size: number;
  read(offset: number, length: number): Buffer;
  write(offset: number, data: Buffer, fua: boolean): void | Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): void | Promise<void>;
  trim(offset: number, length: number, fua: boolean): void | Promise<void>;
  flush(): Promise<void>;
  /**
   * Optional: the server corks the device around the requests of one socket read and uncorks at
   * the end of that same event-loop turn, before any reply leaves; the device may defer work
   * (one journal writev for the batch) until then. Uncork throwing means those writes failed.
   */
  cork?(): void;
  uncork?(): void;
}

/** An export offered by the server: its name and the device behind it. */
export interface NbdExport {
  name: string;
  description?: string;
  device: BlockDevice;
}

/** Thrown by a device to make the server reply with a specific NBD error (e.g. ENOSPC). */
export class NbdError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'NbdError';
  }
}
