import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../../edge-agent/spool';
import { segmentPath } from '../../edge-agent/spoolSegments';
import type { SpoolEntry, SpoolKey } from '../../edge-agent/spoolTypes';
import { tempDir } from './support/testData';

const k = { diskId: 'd1', generation: 1 };
const exists = (f: string) =>
  fsp.stat(f).then(
    () => true,
    () => false,
  );

/** The seqs sent and not confirmed stored: [first, last] (first > last: none). */
const kept = (s: Spool, key: SpoolKey) => [s.confirmedSeq(key) + 1, s.ackedSeq(key)];

/** A spool of one record a segment, keeping sent batches; `n` of them appended, sent, checkpointed. */
async function sentSpool(dir: string, n: number, keepSentBytes = 10 ** 6) {
  const s = await Spool.open(dir, {
    maxBytes: 200_000,
    segmentBytes: 40_000,
    keepSentBytes,
  });
  const sent: SpoolEntry[] = [];
  for (let seq = 1; seq <= n; seq++) sent.push(await s.append({ ...k, seq }, randomBytes(30_000)));
  await s.ack(sent);
  await s.setCheckpoint({ 'd1/1': n });
  return { s, sent };
}

describe(
  'spool: sent batches kept until the control plane confirms them stored',
  { timeout: 60_000 },
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await tempDir('sent');
    });
    afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

    it('keeps what Event Hubs took until confirmed; confirmed ones go, the rest survive a reopen', async () => {
      const d = path.join(dir, 'keep');
      const { s, sent } = await sentSpool(d, 3);
      expect(s.pending()).toEqual([]);
      // Acknowledged and checkpointed, still on disk: nobody said they are stored.
      for (const e of sent) expect(await exists(segmentPath(d, e.segment))).toBe(true);
      expect(kept(s, k)).toEqual([1, 3]);
      // Kept segments take no room from what is not sent yet (the bound is 200 000 bytes).
      expect(s.hasRoom(150_000)).toBe(true);
      await s.confirm([{ ...k, seq: 2 }]);
      expect(await exists(segmentPath(d, sent[0]!.segment))).toBe(false);
      expect(await exists(segmentPath(d, sent[1]!.segment))).toBe(false);
      expect(await exists(segmentPath(d, sent[2]!.segment))).toBe(true);
      await s.close();
      const again = await Spool.open(d, {
        maxBytes: 200_000,
        segmentBytes: 40_000,
        keepSentBytes: 10 ** 6,
      });
      expect(kept(again, k)).toEqual([3, 3]);
      expect(again.pending()).toEqual([]);
      await again.close();
    });

    it('sends again the seqs asked for: pending until taken again, the file bytes', async () => {
      const d = path.join(dir, 'resend');
      const { s, sent } = await sentSpool(d, 3);
      await s.confirm([{ ...k, seq: 1 }]);
      expect(s.resend(k, [2, 3])).toBe(true);
      expect(s.pending().map((e) => e.seq)).toEqual([2, 3]);
      const fromFile = await fsp.readFile(segmentPath(d, sent[1]!.segment));
      expect(fromFile.includes(await s.read(s.pending()[0]!))).toBe(true);
      // Taken again one at a time, in order.
      await s.ack([s.pending()[0]!]);
      expect(s.pending().map((e) => e.seq)).toEqual([3]);
      await s.ack([s.pending()[0]!]);
      expect(s.pending()).toEqual([]);
      // Nothing past what Event Hubs took is "sent again", nor what is confirmed stored.
      expect(s.resend(k, [3, 4])).toBe(false);
      expect(s.resend(k, [1])).toBe(false);
      expect(s.resend(k, [3])).toBe(true);
      expect(s.pending().map((e) => e.seq)).toEqual([3]);
      await s.close();
    });

    it('a later generation of the disk confirms the earlier ones whole; an abandoned one is not sent again', async () => {
      const d = path.join(dir, 'gens');
      const { s, sent } = await sentSpool(d, 2);
      const g2 = { diskId: 'd1', generation: 2 };
      const e = await s.append({ ...g2, seq: 1 }, randomBytes(30_000));
      await s.ack([e]);
      await s.setCheckpoint({ 'd1/2': 1 });
      await s.confirm([{ ...g2, seq: 0 }]);
      expect(kept(s, g2)).toEqual([1, 1]);
      expect(kept(s, k)).toEqual([3, 2]); // none: generation 1 confirmed whole
      for (const x of sent) expect(await exists(segmentPath(d, x.segment))).toBe(false);
      expect(s.resend(g2, [1])).toBe(true);
      await s.abandon(g2);
      expect(s.pending()).toEqual([]);
      expect(kept(s, g2)).toEqual([2, 1]);
      await s.close();
    });

    it('lets the oldest go past keepSentBytes (as if confirmed): a silent control plane cannot fill the disk', async () => {
      const d = path.join(dir, 'budget');
      // Each record's segment is ~30 KiB: a budget of 70 000 bytes keeps the newest two.
      const { s, sent } = await sentSpool(d, 4, 70_000);
      expect(kept(s, k)).toEqual([3, 4]);
      expect(await exists(segmentPath(d, sent[1]!.segment))).toBe(false);
      expect(await exists(segmentPath(d, sent[2]!.segment))).toBe(true);
      // Let go, so not sent again: a gap there is the control plane's to heal.
      expect(s.resend(k, [2])).toBe(false);
      expect(s.resend(k, [3])).toBe(true);
      await s.close();
    });

    it('without keepSentBytes a batch goes once sent and checkpointed, as before', async () => {
      const d = path.join(dir, 'off');
      const { s, sent } = await sentSpool(d, 2, 0);
      expect(await exists(segmentPath(d, sent[0]!.segment))).toBe(false);
      expect(s.resend(k, [1])).toBe(false);
      await s.close();
    });
  },
);
