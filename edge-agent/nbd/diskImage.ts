import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { GroupCommit } from '../journal/groupCommit';
import { ImageWrites, writevAll } from './imageWrites';
import { SECTOR } from './protocol';

const fdatasyncP = promisify(fdatasync);
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

/** Size of an image file or a block device (fstat reports 0 for the latter; sysfs knows). */
export function deviceSize(fd: number): number {
  const st = fstatSync(fd);
  if (!st.isBlockDevice()) return st.size;
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
  return sectors * 512;
}

/**
 * A served disk's file (image or block device): positioned reads and writes, and its
 * fdatasync, group-committed (a sync that finds no write since the running one shares it).
 */
export class DiskImage {
  /** Writes issued, and how many of them the running sync was started after. */
  private writes = 0;
  private writesAtSync = 0;
  private readonly commit: GroupCommit;
  /** Writes issued off the event loop; a sync covers those done before it starts. */
  readonly inflight: ImageWrites;

  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    this.inflight = new ImageWrites(
      (offset, bufs, length) => writevAll(fd, offset, bufs, length),
      () => this.writes++,
    );
    this.commit = new GroupCommit(
      () => {
        this.writesAtSync = this.writes;
        return fdatasyncP(this.fd);
      },
      () => this.writes !== this.writesAtSync,
    );
  }

  /**
   * A block device is opened O_EXCL: Linux then refuses if it is mounted or held by another
   * exclusive opener, which enforces "the splitter is the only writer" for real disks.
   */
  static open(path: string): DiskImage {
    const isBlock = statSync(path).isBlockDevice();
    const fd = openSync(path, isBlock ? constants.O_RDWR | constants.O_EXCL : 'r+');
    const size = deviceSize(fd);
    if (size % SECTOR !== 0) {
      closeSync(fd);
      throw new Error(`${path}: size ${size} is not a multiple of ${SECTOR}`);
    }
    return new DiskImage(fd, size);
  }

  read(offset: number, length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done < length) b.fill(0, done);
    return b;
  }

  write(offset: number, data: Buffer): void {
    this.writes++;
    let done = 0;
    while (done < data.length)
      done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  /** Adjacent buffers in one pwritev. */
  writev(offset: number, bufs: Buffer[]): void {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    this.writes++;
    const n = writevSync(this.fd, bufs, offset);
    if (n < total) this.write(offset + n, Buffer.concat(bufs).subarray(n));
  }

  /** Zeroes a range without allocating: only chunks that are not already zero are written. */
  zero(offset: number, length: number): void {
    const buf = Buffer.allocUnsafe(ZERO_CHUNK.length);
    for (let pos = offset; pos < offset + length;) {
      const n = Math.min(ZERO_CHUNK.length, offset + length - pos);
      const got = readSync(this.fd, buf, 0, n, pos);
      if (got < n || !buf.subarray(0, n).equals(ZERO_CHUNK.subarray(0, n))) {
        this.write(pos, ZERO_CHUNK.subarray(0, n));
      }
      pos += n;
    }
  }

  sync(): Promise<void> {
    return this.commit.request();
  }

  /** fdatasyncs run so far. */
  get syncs(): number {
    return this.commit.syncs;
  }

  /** Synced, then closed. */
  close(): void {
    fdatasyncSync(this.fd);
    closeSync(this.fd);
  }
}
