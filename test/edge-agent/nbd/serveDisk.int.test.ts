import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { readPayload } from '../../../edge-agent/journal/journalReader';
import { RecordType, type BookmarkPayload } from '../../../edge-agent/journal/records';
import { replayJournal } from '../../../edge-agent/journal/replay';
import { parseServeDiskArgs } from '../../../edge-agent/nbd/serveDiskArgs';
import { sha256File } from '../../../local/images/ext4';
import { control, startServeDisk, tempDir, unixUri } from './helpers';
import { QemuIo } from './qemuIo';

const SIZE = 4 * 1024 * 1024;

describe('haven-agent serve-disk', () => {
  it('parses its arguments', () => {
    const o = parseServeDiskArgs([
      '/dev/sdb',
      '/dev/sdc',
      '--socket',
      '/run/a.sock',
      '--socket',
      '/run/b.sock',
      '--journal',
      '/j',
      '--machine-id',
      'm1',
      '--drain-on-event-loop',
    ]);
    expect(o.disks.map((d) => d.socketPath)).toEqual(['/run/a.sock', '/run/b.sock']);
    expect(o.journalDir).toBe('/j');
    expect(o.drainOnEventLoop).toBe(true);
    expect(parseServeDiskArgs(['/dev/sdb', '--socket', '/s']).drainOnEventLoop).toBeUndefined();
    expect(() => parseServeDiskArgs(['/dev/sdb'])).toThrow(/one --socket per disk/);
    expect(() => parseServeDiskArgs(['/dev/sdb', '--port', '10809'])).toThrow(/no authentication/);
    expect(() => parseServeDiskArgs(['a', 'b', '--socket', 's'])).toThrow(/one --socket per disk/);
  });

  it('serves two disks of one machine; a consistency-group cut from the control plane lands on both; SIGTERM closes cleanly', async () => {
    const dir = tempDir();
    const disks = [0, 1].map((i) => {
      const p = join(dir, `disk${i}.img`);
      writeFileSync(p, randomBytes(SIZE));
      copyFileSync(p, `${p}.initial`);
      return { path: p, sock: join(dir, `d${i}.sock`) };
    });
    const ctl = join(dir, 'control.sock');
    const jdir = join(dir, 'journal');
    const p = await startServeDisk([
      disks[0]!.path,
      disks[1]!.path,
      '--socket',
      disks[0]!.sock,
      '--socket',
      disks[1]!.sock,
      '--journal',
      jdir,
      '--machine-id',
      'm-cg',
      '--control',
      ctl,
    ]);

    const write = async (i: number, cmds: string[]) => {
      const q = new QemuIo(unixUri(disks[i]!.sock));
      await q.ready();
      for (const c of cmds) expect(await q.cmd(c)).not.toMatch(/error|fail/i);
      await q.quit();
    };
    await write(0, ['write -P 1 0 64k', 'write -P 2 1M 4k']);
    await write(1, ['write -P 3 4096 8k']);
    // The control plane chose the cut for the whole group; this machine inserts it.
    expect(await control(ctl, { op: 'bookmark', id: 'cg-0001', groupId: 'group-a' })).toMatchObject(
      { ok: true, id: 'cg-0001' },
    );
    await write(0, ['write -P 4 0 4k']);
    await write(1, ['write -z 4096 4k']);
    const status = await control(ctl, { op: 'status' });
    expect(status).toMatchObject({ ok: true, overflowed: false });
    expect(await control(ctl, { op: 'nope' })).toMatchObject({ ok: false });

    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));

    const j = MachineJournal.open({ dir: jdir });
    expect(j.recovery).toBe('clean');
    const bookmarks: BookmarkPayload[] = [];
    const r = j.reader(1);
    for (let rec = r.next(); rec; rec = r.next()) {
      if (rec.type === RecordType.Bookmark)
        bookmarks.push(JSON.parse(readPayload(rec).toString()) as BookmarkPayload);
    }
    r.close();
    expect(bookmarks).toMatchObject([{ id: 'cg-0001', groupId: 'group-a', consistency: 'crash' }]);

    // At the cut: disk0 has 1/2 but not 4; disk1 has 3 but not the zeroes.
    for (const [i, check] of [
      [0, (b: Buffer) => b[0] === 1 && b[1024 * 1024] === 2],
      [1, (b: Buffer) => b[4096] === 3 && b[8192 + 4095] === 3],
    ] as const) {
      const copy = join(dir, `replica${i}.img`);
      copyFileSync(`${disks[i]!.path}.initial`, copy);
      replayJournal(j, `disk${i}`, copy, { untilBookmarkId: 'cg-0001' });
      expect(check(readFileSync(copy))).toBe(true);
      // And the whole journal gives today's disk.
      copyFileSync(`${disks[i]!.path}.initial`, copy);
      replayJournal(j, `disk${i}`, copy);
      expect(sha256File(copy)).toBe(sha256File(disks[i]!.path));
    }
    await j.close();
  }, 60_000);
});
