import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { truncateSync, writeFileSync } from 'node:fs';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../../edge-agent/nbd/journalChangeSource';
import { tempDir } from './helpers';

const SIZE = 8 * 1024 * 1024;

/** The stream until the source is idle and has read everything, data as sha256. */
async function stream(source: JournalChangeSource): Promise<string[]> {
  const ac = new AbortController();
  const out: string[] = [];
  for await (const r of source.changes(ac.signal)) {
    if (r.kind === 'idle') {
      if (source.readLsn > source.journal.lastLsn) break;
      continue;
    }
    if (r.kind === 'bookmark') out.push(`bookmark ${r.id}`);
    else
      out.push(
        `${r.diskId} ${r.offset}+${r.length} ${r.data ? createHash('sha256').update(r.data).digest('hex') : 'zero'}`,
      );
  }
  ac.abort();
  return out;
}

describe('the journal drain in its own thread', () => {
  it('gives the same stream as the drain on the calling thread, across segments, windows and a bookmark', async () => {
    const dir = tempDir();
    const image = join(dir, 'disk.img');
    writeFileSync(image, '');
    truncateSync(image, SIZE);
    // Small segments and windows: the thread follows several segment files and cuts often.
    const j = MachineJournal.open({ dir: join(dir, 'j'), segmentBytes: 256 * 1024 });
    const s = WriteSplitter.open(j, 'd0', image, { initialSync: false });
    let seed = 0;
    for (let i = 0; i < 300; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const len = (1 + (seed % 32)) * 4096; // 4-128 KiB: payloads eager and lazily read
      const off = (seed % ((SIZE - len) / 4096)) * 4096;
      if (i % 37 === 5) await s.writeZeroes(off, len, false);
      else await s.write(off, randomBytes(len), false);
      if (i === 150)
        j.insertBookmark({ id: 'mid', consistency: 'crash', createdAt: '2026-01-01T00:00:00Z' });
    }
    const opts = { windowMs: 0, maxWindowBytes: 512 * 1024 };
    const threaded = new JournalChangeSource(j, opts);
    const inline = new JournalChangeSource(j, { ...opts, drainThread: false });
    const a = await stream(threaded);
    const b = await stream(inline);
    expect(a.length).toBeGreaterThan(10);
    expect(a).toContain('bookmark mid');
    expect(a).toEqual(b);
    expect(threaded.stats).toEqual(inline.stats);
    await threaded.close();
    await inline.close();
    s.close();
    await j.close();
  });
});
