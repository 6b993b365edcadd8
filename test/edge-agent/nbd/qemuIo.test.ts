import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QemuIo } from './qemuIo';

describe('QemuIo never waits forever', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'haven-qemuio-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('qemu-io not installed: ready() and cmd() reject, naming it', async () => {
    const saved = process.env.PATH;
    process.env.PATH = dir; // an empty directory: no qemu-io
    let q: QemuIo;
    try {
      q = new QemuIo(`nbd+unix:///?socket=${path.join(dir, 'none.sock')}`);
    } finally {
      process.env.PATH = saved;
    }
    await expect(q.ready()).rejects.toThrow(/qemu-io is not installed/);
    await expect(q.cmd('read 0 512')).rejects.toThrow(/qemu-io is not installed/);
    await q.quit();
  });

  it('no server behind the socket: qemu-io exits and ready() rejects with what it said', async () => {
    const q = new QemuIo(`nbd+unix:///?socket=${path.join(dir, 'none.sock')}`);
    await expect(q.ready()).rejects.toThrow(/qemu-io exited/);
  });
});
