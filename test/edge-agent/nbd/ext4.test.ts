import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { replayJournal } from '../../../edge-agent/journal/replay';
import { NbdServer } from '../../../edge-agent/nbd/server';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { sha256File } from '../../../local/images/ext4';
import { run, tempDir, unixUri } from './helpers';

const SIZE = 64 * 1024 * 1024;

/** Adds files to an ext4 image with debugfs (no mount needed). */
async function addFiles(
  image: string,
  dir: string,
  prefix: string,
  n: number,
): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const cmds: string[] = [`mkdir /${prefix}`];
  for (let i = 0; i < n; i++) {
    const data = randomBytes(1024 + Math.floor(Math.random() * 300_000));
    const src = join(dir, `${prefix}-${i}.bin`);
    writeFileSync(src, data);
    cmds.push(`write ${src} /${prefix}/f${i}`);
    files.set(`/${prefix}/f${i}`, data);
  }
  const cmdFile = join(dir, `${prefix}.cmds`);
  writeFileSync(cmdFile, cmds.join('\n') + '\n');
  await run('debugfs', ['-w', '-f', cmdFile, image]);
  return files;
}

describe('a real ext4 through the export', () => {
  it('qemu-img convert writes an ext4 image through the splitter; journal replay to each bookmark passes e2fsck and holds the files', async () => {
    const dir = tempDir();
    // Two versions of a filesystem, made with the real tools.
    const v1 = join(dir, 'v1.img');
    writeFileSync(v1, '');
    truncateSync(v1, SIZE);
    await run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', v1]);
    const files1 = await addFiles(v1, dir, 'a', 20);
    const v2 = join(dir, 'v2.img');
    copyFileSync(v1, v2);
    const files2 = await addFiles(v2, dir, 'b', 20);
    await run('debugfs', ['-w', '-R', 'rm /a/f3', v2]);

    // The protected disk starts blank; the server is its only writer.
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    truncateSync(disk, SIZE);
    copyFileSync(disk, join(dir, 'initial.img'));
    const journal = MachineJournal.open({ dir: join(dir, 'journal') });
    const splitter = WriteSplitter.open(journal, 'disk0', disk);
    const sock = join(dir, 'nbd.sock');
    const server = new NbdServer({
      exports: [{ name: 'disk0', device: splitter }],
      socketPath: sock,
    });
    await server.listen();

    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', v1, unixUri(sock)]);
    journal.insertBookmark({ id: 'v1', consistency: 'crash' });
    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', v2, unixUri(sock)]);
    journal.insertBookmark({ id: 'v2', consistency: 'crash' });
    const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', v2, unixUri(sock)]);
    expect(cmp.stdout).toMatch(/identical/i);
    await server.close();
    expect(splitter.stats.writes).toBeGreaterThan(0);

    for (const [id, source, files, absent] of [
      ['v1', v1, files1, undefined],
      ['v2', v2, new Map([...files1, ...files2].filter(([k]) => k !== '/a/f3')), '/a/f3'],
    ] as const) {
      const replica = join(dir, `replica-${id}.img`);
      copyFileSync(join(dir, 'initial.img'), replica);
      const r = replayJournal(journal, 'disk0', replica, { untilBookmarkId: id });
      expect(r.bookmark?.id).toBe(id);
      const fsck = await run('e2fsck', ['-fn', replica], { allowFail: true });
      expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
      expect(sha256File(replica)).toBe(sha256File(source));
      for (const [name, data] of [...files].slice(0, 6)) {
        const out = join(dir, `out-${id}.bin`);
        await run('debugfs', ['-R', `dump ${name} ${out}`, replica]);
        expect(readFileSync(out).equals(data), `${id}:${name}`).toBe(true);
      }
      if (absent) {
        const ls = await run('debugfs', ['-R', 'ls /a', replica]);
        expect(ls.stdout).not.toMatch(/\bf3\b/);
      }
    }
    await journal.close();
    await splitter.close();
  }, 120_000);
});
