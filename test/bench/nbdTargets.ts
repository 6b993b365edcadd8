import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  openSync,
  readSync,
  statSync,
  write,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { NbdServer } from '../../edge-agent/nbd/server';
import type { BlockDevice } from '../../edge-agent/nbd/blockDevice';
import { exec } from './fioJob';

/**
 * What the splitter bench serves fio: a plain image file as a block device (our NBD server
 * with no journal), our NBD server over any device, and qemu-nbd over the same image.
 */
const fdatasyncP = promisify(fdatasync);
const writeP = promisify(write);

export class PlainDevice implements BlockDevice {
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}
  read(offset: number, length: number): Buffer {
    const b = Buffer.alloc(length);
    readSync(this.fd, b, 0, length, offset);
    return b;
  }
  /** Through the thread pool, as qemu-nbd's writes (a write on the event loop held it). */
  write(offset: number, data: Buffer): Promise<void> {
    return writeP(this.fd, data, 0, data.length, offset).then(() => undefined);
  }
  writeZeroes(offset: number, length: number): void {
    writeSync(this.fd, Buffer.alloc(length), 0, length, offset);
  }
  trim(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }
  flush(): Promise<void> {
    return fdatasyncP(this.fd);
  }
}

/**
 * The image every target writes to, its pages resident in the page cache: written whole once,
 * then kept between runs. A fresh (truncated) image per run made each run allocate its whole
 * size of new page cache, and on this VM, whose free pages go back to the host at once, whether
 * those pages were still backed decided the run (qemu-nbd alone: 273–1405 MB/s, bimodal): the
 * hypervisor was measured, not the servers. Overwriting resident pages, every target runs as a
 * long-running server's disk does.
 */
export function residentImage(path: string, size: number): void {
  if (existsSync(path) && statSync(path).size === size) return;
  const fd = openSync(path, 'w');
  try {
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    for (let pos = 0; pos < size; pos += zeros.length)
      writeSync(fd, zeros, 0, Math.min(zeros.length, size - pos), pos);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function withServer<T>(
  device: BlockDevice,
  socketPath: string,
  f: (uri: string) => Promise<T>,
): Promise<T> {
  const server = new NbdServer({ exports: [{ name: 'd', device }], socketPath });
  await server.listen();
  try {
    return await f(`nbd+unix:///d?socket=${socketPath}`);
  } finally {
    await server.close();
  }
}

/**
 * Runs `f` against an NBD server program serving on `socketPath`, once it lists its exports;
 * the server is stopped afterwards. A server that exits before it serves fails the run with
 * what it printed.
 */
export async function withNbdProgram<T>(
  program: string,
  args: string[],
  socketPath: string,
  f: () => Promise<T>,
): Promise<T> {
  const p: ChildProcess = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let failed: Error | undefined;
  const exited = new Promise((r) => {
    p.once('exit', r);
    p.once('error', (e) => r((failed = e)));
  });
  try {
    for (let i = 0; ; i++) {
      if (failed) throw failed;
      if (p.exitCode !== null || p.signalCode !== null)
        throw new Error(`${program} exited before serving: ${stderr.trim()}`);
      try {
        await exec('qemu-nbd', ['-L', '-k', socketPath]);
        break;
      } catch (e) {
        if (i >= 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return await f();
  } finally {
    p.kill('SIGTERM');
    await exited;
  }
}

export function withQemuNbd<T>(
  image: string,
  socketPath: string,
  f: (uri: string) => Promise<T>,
): Promise<T> {
  const args = ['-f', 'raw', '-k', socketPath, '-x', 'd', '--cache=writeback', '-t', image];
  return withNbdProgram('qemu-nbd', args, socketPath, () =>
    f(`nbd+unix:///d?socket=${socketPath}`),
  );
}
