import {
  chmodSync,
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { mkfsExt4FromDir, writeMixedContent } from './ext4';
import { requireTool } from '../setup/requireTool';
import { httpHandler, powerButtonScript, serverInit, udhcpcScript } from './serverGuest';
import { isStaticElf } from '../vm/staticElf';

/**
 * A small server whose disk boots (locally under QEMU with the platform kernel, as a recovered
 * Azure VM would): a whole-disk ext4 holding a static busybox, its own `/sbin/init` and a web
 * service on port 80 that serves the server's data (routes in serverGuest.ts). Because the
 * service reads whatever is on the disk, a disk recovered from a point serves the data of that
 * point, and a write made in the recovered VM lands on its managed disk: tests and the demo
 * check recovery through HTTP.
 */
export {
  SERVER_BOOTED_MARKER,
  SERVER_HTTP_PORT,
  SERVER_POWEROFF_MARKER,
  SERVER_READY_MARKER,
} from './serverGuest';

/** Reads a file out of a (stopped) server's disk image, for tests: debugfs, no mount. */
export { debugfsRead as readFileFromImage } from './ext4';

export interface BootableServerOptions {
  sizeBytes: number;
  hostname: string;
  /** Files of the server's data, served at /data/<name>. */
  files?: Record<string, Buffer | string>;
  /** Share of the disk to fill with mixed content (makes replication non-trivial). */
  fill?: number;
  /**
   * 'mbr': the filesystem sits in the first partition (at 1 MiB) of an MBR disk of the same
   * total size, as on most servers; default a whole-disk ext4.
   */
  partitionTable?: 'mbr';
}

const PARTITION_OFFSET = 1024 * 1024;

/**
 * `path` becomes an MBR disk whose one Linux partition, at 1 MiB, holds the filesystem image
 * `fsImage`. All-zero chunks are skipped, so the disk stays as sparse as the image was.
 */
function writeMbrDisk(path: string, fsImage: string): void {
  const size = statSync(fsImage).size;
  const mbr = Buffer.alloc(512);
  mbr[446 + 4] = 0x83; // partition type: Linux
  mbr.writeUInt32LE(PARTITION_OFFSET / 512, 446 + 8);
  mbr.writeUInt32LE(size / 512, 446 + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  const out = openSync(path, 'w');
  const src = openSync(fsImage, 'r');
  try {
    writeSync(out, mbr, 0, 512, 0);
    ftruncateSync(out, PARTITION_OFFSET + size);
    const buf = Buffer.alloc(4 * 1024 * 1024);
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = readSync(src, buf, 0, buf.length, pos);
      if (buf.subarray(0, n).some((b) => b !== 0))
        writeSync(out, buf, 0, n, PARTITION_OFFSET + pos);
    }
  } finally {
    closeSync(src);
    closeSync(out);
  }
}

function put(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

export function makeBootableServerImage(path: string, opts: BootableServerOptions): void {
  const busybox = requireTool('busybox', 'busybox-static', 'to build a bootable server disk');
  if (!isStaticElf(busybox)) {
    throw new Error(
      `${busybox} is dynamically linked; a bootable server disk needs busybox-static.`,
    );
  }
  if (opts.sizeBytes < 16 * 1024 * 1024)
    throw new Error('A bootable server disk needs at least 16 MiB.');
  const root = mkdtempSync(join(tmpdir(), 'haven-boot-'));
  try {
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'var/log', 'srv/data']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    put(root, 'bin/busybox', readFileSync(busybox), 0o755);
    put(root, 'sbin/init', serverInit, 0o755);
    put(root, 'etc/hostname', `${opts.hostname}\n`);
    put(root, 'etc/udhcpc.sh', udhcpcScript, 0o755);
    put(root, 'etc/acpi/PWRF/00000080', powerButtonScript, 0o755);
    put(root, 'srv/http.sh', httpHandler, 0o755);
    const fill = opts.fill ?? 0;
    if (fill > 0) writeMixedContent(join(root, 'srv/fill'), Math.floor(opts.sizeBytes * fill));
    for (const [name, body] of Object.entries(opts.files ?? {}))
      put(root, `srv/data/${name}`, body);
    if (opts.partitionTable === 'mbr') {
      const fsImage = join(root, '..', `${basename(root)}.ext4`);
      try {
        mkfsExt4FromDir(fsImage, opts.sizeBytes - PARTITION_OFFSET, root);
        writeMbrDisk(path, fsImage);
      } finally {
        rmSync(fsImage, { force: true });
      }
    } else {
      mkfsExt4FromDir(path, opts.sizeBytes, root);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
