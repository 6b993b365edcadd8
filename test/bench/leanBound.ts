import { closeSync, constants, fdatasync, openSync, rmSync, write } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { xxh64 } from '@node-rs/xxhash';
import { AlignedSlabs } from '../../edge-agent/journal/alignedSlabs';
import type { BlockDevice } from '../../edge-agent/nbd/blockDevice';

const fdatasyncP = promisify(fdatasync);
const writeAt = (fd: number, b: Buffer, pos: number) =>
  new Promise<void>((resolve, reject) =>
    write(fd, b, 0, b.length, pos, (e) => (e ? reject(e) : resolve())),
  );

/**
 * The splitter's per-byte work for large writes in JavaScript, with none of its bookkeeping:
 * the payload received into aligned memory, hashed (xxh64) on the event loop, appended O_DIRECT
 * to a journal file and written to the image through the thread pool side by side, answered
 * after both; FLUSH syncs the journal. No LSNs, record headers, intent log, ahead marks, memory
 * records or drain. Beside the C bound (nativeBound.ts) it says how much of the splitter's gap
 * to qemu-nbd is Node and how much is the splitter's own design. Only for aligned writes of
 * 128 KiB and more (the sequential job): smaller ones go to the image alone.
 */
export class LeanBoundDevice implements BlockDevice {
  private readonly slabs: AlignedSlabs;
  private readonly journalFd: number;
  private journalPos = 0;

  private constructor(
    private readonly imageFd: number,
    readonly size: number,
    private readonly dir: string,
    slabs: AlignedSlabs,
  ) {
    this.slabs = slabs;
    const flags = constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT;
    this.journalFd = openSync(join(dir, 'lean.journal'), flags, 0o600);
  }

  /** Undefined where the filesystem refuses O_DIRECT (the bound is then not run). */
  static open(imageFd: number, size: number, dir: string): LeanBoundDevice | undefined {
    const slabs = AlignedSlabs.open(dir);
    return slabs && new LeanBoundDevice(imageFd, size, dir, slabs);
  }

  payloadBuffer(length: number): Buffer | undefined {
    return this.slabs.take(length);
  }

  read(_offset: number, length: number): Buffer {
    return Buffer.alloc(length);
  }

  write(offset: number, data: Buffer): Promise<void> {
    const release = this.slabs.adopt(data);
    const image = writeAt(this.imageFd, data, offset);
    if (!this.slabs.owns(data)) return image.finally(release);
    xxh64(data);
    const pos = this.journalPos;
    // A ring of the disk's size: the bound never grows the journal past the image.
    this.journalPos = (pos + data.length) % this.size;
    return Promise.all([image, writeAt(this.journalFd, data, pos)])
      .then(() => undefined)
      .finally(release);
  }

  writeZeroes(): void {}

  trim(): void {}

  flush(): Promise<void> {
    return fdatasyncP(this.journalFd);
  }

  close(): void {
    closeSync(this.journalFd);
    this.slabs.close();
    rmSync(join(this.dir, 'lean.journal'), { force: true });
  }
}
