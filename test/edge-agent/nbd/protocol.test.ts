import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { RecordType } from '../../../edge-agent/journal/records';
import { NbdServer } from '../../../edge-agent/nbd/server';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import * as P from '../../../edge-agent/nbd/protocol';
import { run, tempDir, unixUri } from './helpers';
import { QemuIo } from './qemuIo';
import { RawNbd } from './rawNbd';

const SIZE = 16 * 1024 * 1024;

describe('NBD server (real clients: qemu-io, qemu-img, qemu-nbd, fio)', () => {
  const dir = tempDir();
  const image = join(dir, 'disk.img');
  const socketPath = join(dir, 'nbd.sock');
  let journal: MachineJournal;
  let splitter: WriteSplitter;
  let unixServer: NbdServer;

  beforeAll(async () => {
    writeFileSync(image, '');
    truncateSync(image, SIZE);
    journal = MachineJournal.open({ dir: join(dir, 'journal'), machineId: 'm-proto' });
    splitter = WriteSplitter.open(journal, 'disk0', image);
    const exports = [{ name: 'disk0', description: 'test disk', device: splitter }];
    unixServer = new NbdServer({ exports, socketPath });
    await unixServer.listen();
  });

  afterAll(async () => {
    await unixServer.close();
    await journal.close();
    await splitter.close();
  });

  function journalRecords(): Array<{ type: RecordType; offset: number; length: number }> {
    const r = journal.reader(1);
    const out: Array<{ type: RecordType; offset: number; length: number }> = [];
    for (let rec = r.next(); rec; rec = r.next())
      out.push({ type: rec.type, offset: rec.offset, length: rec.length });
    r.close();
    return out;
  }

  it('serves every command to qemu-io over a Unix socket and journals the changes', async () => {
    const q = new QemuIo(unixUri(socketPath));
    await q.ready();
    expect(await q.cmd('write -P 0x5a 0 64k')).toMatch(/wrote 65536\/65536/);
    expect(await q.cmd('read -P 0x5a 0 64k')).toMatch(/read 65536\/65536/);
    expect(await q.cmd('write -f -P 0x11 4096 4096')).toMatch(/wrote 4096/); // FUA
    expect(await q.cmd('flush')).not.toMatch(/error|failed/i);
    expect(await q.cmd('write -z 8192 4096')).toMatch(/wrote 4096/); // WRITE_ZEROES
    expect(await q.cmd('discard 32768 16384')).toMatch(/discard 16384/); // TRIM
    expect(await q.cmd('read -P 0 32768 16384')).toMatch(/read 16384/);
    expect(await q.cmd('read -P 0 8192 4096')).toMatch(/read 4096/);
    expect(await q.cmd('read -P 0x11 4096 4096')).toMatch(/read 4096/);
    // Unaligned write: qemu does read-modify-write itself (min block 512 advertised).
    expect(await q.cmd('write -P 0x33 70001 10')).toMatch(/wrote 10/);
    expect(await q.cmd('read -P 0x33 70001 10')).toMatch(/read 10/);
    await q.quit();

    const img = readFileSync(image);
    expect(img.subarray(0, 4096).every((b) => b === 0x5a)).toBe(true);
    expect(img.subarray(4096, 8192).every((b) => b === 0x11)).toBe(true);
    expect(img.subarray(8192, 12288).every((b) => b === 0)).toBe(true);
    expect(img.subarray(70001, 70011).every((b) => b === 0x33)).toBe(true);

    const recs = journalRecords();
    const changes = recs.filter((r) => r.type === RecordType.Write || r.type === RecordType.Zero);
    expect(changes.slice(0, 5)).toEqual([
      { type: RecordType.Write, offset: 0, length: 65536 },
      { type: RecordType.Write, offset: 4096, length: 4096 },
      { type: RecordType.Zero, offset: 8192, length: 4096 },
      { type: RecordType.Zero, offset: 32768, length: 16384 },
      { type: RecordType.Write, offset: 69632, length: 512 }, // the sector holding 70001..70010
    ]);
    for (const c of changes) {
      expect(c.offset % 512).toBe(0);
      expect(c.length % 512).toBe(0);
    }
    expect(splitter.stats.flushes).toBeGreaterThanOrEqual(1);
  });

  it('serves qemu-io on its 0600 Unix socket, and nothing on TCP', async () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(() => new NbdServer({ exports: [], socketPath })).toThrow(/no exports/);
    const q = new QemuIo(`nbd+unix:///disk0?socket=${socketPath}`);
    await q.ready();
    expect(await q.cmd('write -P 0x77 1M 1M')).toMatch(/wrote 1048576/);
    expect(await q.cmd('read -P 0x77 1M 1M')).toMatch(/read 1048576/);
    await q.quit();
  });

  it('answers NBD_OPT_GO/INFO (qemu-img info) and NBD_OPT_LIST (qemu-nbd -L)', async () => {
    const info = await run('qemu-img', ['info', '--output=json', unixUri(socketPath)]);
    expect(JSON.parse(info.stdout)['virtual-size']).toBe(SIZE);
    const list = await run('qemu-nbd', ['-L', '-k', socketPath]);
    expect(list.stdout).toMatch(/export: 'disk0'/);
    expect(list.stdout).toMatch(/description: test disk/);
    expect(list.stdout).toMatch(/flush fua trim zeroes multi/);
    expect(list.stdout).toMatch(/min block: 512/);
  });

  it('passes a fio verify job through the nbd engine', async () => {
    const out = await run('fio', [
      '--name=v',
      '--ioengine=nbd',
      `--uri=nbd+unix:///disk0?socket=${socketPath}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=4m',
      '--offset=8m',
      '--iodepth=8',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      // No <job>-verify.state files in the working directory (the repo root).
      '--verify_state_save=0',
    ]);
    expect(out.stdout).not.toMatch(/verify: bad/);
    expect(out.stdout).toMatch(/WRITE: bw=/);
  });

  it('takes several connections at once (CAN_MULTI_CONN): two fio jobs verify their own regions', async () => {
    const before = splitter.stats.writes;
    const out = await run('fio', [
      '--name=mc',
      '--ioengine=nbd',
      `--uri=nbd+unix:///disk0?socket=${socketPath}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=2m',
      '--offset=4m',
      '--offset_increment=2m',
      '--numjobs=2',
      '--iodepth=8',
      '--fsync=16',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      // No <job>-verify.state files in the working directory (the repo root).
      '--verify_state_save=0',
      '--group_reporting',
    ]);
    expect(out.stdout).not.toMatch(/verify: bad/);
    expect(splitter.stats.writes - before).toBeGreaterThanOrEqual(1024);
  });

  it('refuses what the spec says to refuse (raw client)', async () => {
    const c = await RawNbd.connect({ socketPath });
    const { flags } = await c.handshake(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES);
    expect(flags).toBe(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES);

    c.option(99); // unknown option
    expect((await c.optionReply()).type >>> 0).toBe(P.REP_ERR_UNSUP >>> 0);
    c.option(8); // STRUCTURED_REPLY: optional, refused
    expect((await c.optionReply()).type >>> 0).toBe(P.REP_ERR_UNSUP >>> 0);
    c.option(P.OPT_LIST, Buffer.from('x')); // LIST takes no data
    expect((await c.optionReply()).type >>> 0).toBe(P.REP_ERR_INVALID >>> 0);
    c.option(P.OPT_GO, RawNbd.goData('nope'));
    expect((await c.optionReply()).type >>> 0).toBe(P.REP_ERR_UNKNOWN >>> 0);
    c.option(P.OPT_GO, Buffer.from([0, 0, 0, 9, 1])); // malformed
    expect((await c.optionReply()).type >>> 0).toBe(P.REP_ERR_INVALID >>> 0);

    c.option(P.OPT_INFO, RawNbd.goData('disk0', [P.INFO_NAME, P.INFO_BLOCK_SIZE]));
    const replies = [];
    for (;;) {
      const r = await c.optionReply();
      replies.push(r);
      if (r.type === P.REP_ACK) break;
    }
    const exp = replies.find(
      (r) => r.type === P.REP_INFO && r.data.readUInt16BE(0) === P.INFO_EXPORT,
    )!;
    expect(Number(exp.data.readBigUInt64BE(2))).toBe(SIZE);
    const tflags = exp.data.readUInt16BE(10);
    for (const f of [
      P.TFLAG_HAS_FLAGS,
      P.TFLAG_SEND_FLUSH,
      P.TFLAG_SEND_FUA,
      P.TFLAG_SEND_TRIM,
      P.TFLAG_SEND_WRITE_ZEROES,
    ]) {
      expect(tflags & f).toBe(f);
    }
    const name = replies.find(
      (r) => r.type === P.REP_INFO && r.data.readUInt16BE(0) === P.INFO_NAME,
    )!;
    expect(name.data.subarray(2).toString()).toBe('disk0');

    // INFO does not enter transmission; GO does.
    c.option(P.OPT_GO, RawNbd.goData(''));
    for (;;) if ((await c.optionReply()).type === P.REP_ACK) break;

    c.request(P.CMD_READ, BigInt(SIZE - 512), 1024, 1n); // past the end
    expect(await c.simpleReply()).toMatchObject({ error: P.EINVAL, cookie: 1n });
    c.request(P.CMD_WRITE, BigInt(SIZE), 4096, 2n, 0, Buffer.alloc(4096, 1)); // past the end, payload dropped
    expect(await c.simpleReply()).toMatchObject({ error: P.ENOSPC, cookie: 2n });
    c.request(P.CMD_TRIM, BigInt(SIZE), 512, 3n);
    expect(await c.simpleReply()).toMatchObject({ error: P.ENOSPC, cookie: 3n });
    c.request(P.CMD_WRITE_ZEROES, 0xffffffffffff0000n, 512, 4n);
    expect(await c.simpleReply()).toMatchObject({ error: P.ENOSPC, cookie: 4n });
    c.request(42, 0n, 0, 5n); // unknown command
    expect(await c.simpleReply()).toMatchObject({ error: P.EINVAL, cookie: 5n });
    // The stream is still in sync after the refused write's payload.
    c.request(P.CMD_WRITE, 4096n * 100n, 512, 6n, P.CMD_FLAG_FUA, Buffer.alloc(512, 0xab));
    expect(await c.simpleReply()).toMatchObject({ error: 0, cookie: 6n });
    c.request(P.CMD_READ, 4096n * 100n, 512, 7n);
    const rd = await c.simpleReply(512);
    expect(rd.error).toBe(0);
    expect(rd.data.every((b) => b === 0xab)).toBe(true);
    c.request(P.CMD_FLUSH, 0n, 0, 8n);
    expect(await c.simpleReply()).toMatchObject({ error: 0, cookie: 8n });
    c.request(P.CMD_DISC, 0n, 0, 9n);
    expect((await c.read(1)).length).toBe(0); // server closed
  });

  it('EXPORT_NAME: 124 zero bytes unless NO_ZEROES; unknown name closes; ABORT acks', async () => {
    const a = await RawNbd.connect({ socketPath });
    await a.handshake(P.FLAG_C_FIXED_NEWSTYLE);
    a.option(P.OPT_EXPORT_NAME, Buffer.from('disk0'));
    const r = await a.read(134);
    expect(Number(r.readBigUInt64BE(0))).toBe(SIZE);
    expect(r.subarray(10).every((b) => b === 0)).toBe(true);
    a.close();

    const b = await RawNbd.connect({ socketPath });
    await b.handshake();
    b.option(P.OPT_EXPORT_NAME, Buffer.from('disk0'));
    expect((await b.read(10)).length).toBe(10);
    b.request(P.CMD_READ, 0n, 4096, 1n);
    const rd = await b.simpleReply(4096);
    expect(rd.data.every((x) => x === 0x5a)).toBe(true);
    b.close();

    const c = await RawNbd.connect({ socketPath });
    await c.handshake();
    c.option(P.OPT_EXPORT_NAME, Buffer.from('nope'));
    expect((await c.read(1)).length).toBe(0);

    const d = await RawNbd.connect({ socketPath });
    await d.handshake();
    d.option(P.OPT_ABORT);
    expect((await d.optionReply()).type).toBe(P.REP_ACK);
    expect((await d.read(1)).length).toBe(0);

    const e = await RawNbd.connect({ socketPath });
    await e.handshake(0x80); // unknown client flag
    expect((await e.read(1)).length).toBe(0);
  });
});
