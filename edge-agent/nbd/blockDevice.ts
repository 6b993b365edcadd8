/**
 * What the NBD server needs from whatever stores the disk. Any call may complete synchronously
 * (the reply then leaves with the other replies of that socket read) or return a promise (the
 * reply leaves when it settles): a write applied off the event loop, FUA, FLUSH, a durable
 * bitmap update, a read waiting for a write in flight in its range.
 */
export interface BlockDevice {
  readonly size: number;
  read(offset: number, length: number): Buffer | Promise<Buffer>;
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
  /**
   * Optional: memory a WRITE payload of `length` bytes is best received in (the splitter's
   * journal writes it O_DIRECT from there); undefined: any buffer.
   */
  payloadBuffer?(length: number): Buffer | undefined;
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
