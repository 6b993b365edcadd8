import { describe, expect, it } from 'vitest';
import { ResendWatch } from '../../edge-agent/resendWatch';
import type { CloudDisk } from '../../edge-agent/controlPlaneClient';
import type { SpoolKey } from '../../edge-agent/spoolTypes';

/** A spool that took batches 1..sentTo of d1/1 and holds them; records what the watch asks. */
function fakeSpool(sentTo: number, holds = true) {
  const calls: string[] = [];
  return {
    calls,
    confirm: async (stored: readonly (SpoolKey & { seq: number })[]) =>
      void calls.push(
        `confirm ${stored.map((s) => `${s.diskId}/${s.generation}:${s.seq}`).join(',')}`,
      ),
    ackedSeq: () => sentTo,
    resend: (k: SpoolKey, seqs: readonly number[]) => {
      calls.push(`resend ${k.diskId}/${k.generation} ${seqs.join(',')}`);
      return holds;
    },
  };
}

const disk = (stagedSeq?: number, stagedAhead: number[] = []): CloudDisk => ({
  id: 'd1',
  sizeBytes: 1 << 20,
  logicalSectorSize: 512,
  generation: 1,
  ...(stagedSeq === undefined ? {} : { stagedSeq, stagedAhead }),
});

describe('resend watch: what Event Hubs took and Azure did not store is sent again', () => {
  const setup = (sentTo: number, holds = true) => {
    let now = 0;
    const spool = fakeSpool(sentTo, holds);
    const logs: string[] = [];
    const w = new ResendWatch(
      spool,
      (m) => logs.push(m),
      60_000,
      () => now,
    );
    const resends = () => spool.calls.filter((c) => c.startsWith('resend'));
    return { w, spool, logs, resends, at: (t: number) => void (now = t) };
  };

  it('a gap (later seqs stored) lasting the wait: exactly the missing seqs, then twice the wait', async () => {
    const { w, spool, logs, resends, at } = setup(9);
    const gap = disk(4, [6, 8]);
    await w.listed([gap]);
    expect(spool.calls[0]).toBe('confirm d1/1:4');
    at(59_000);
    await w.listed([gap]);
    expect(resends()).toEqual([]);
    at(60_000);
    await w.listed([gap]);
    expect(resends()).toEqual(['resend d1/1 5,7']);
    expect(logs).toEqual(['sending batches again: sent, and not stored in Azure']);
    at(119_000);
    await w.listed([gap]);
    expect(resends()).toHaveLength(1);
    at(180_000);
    await w.listed([gap]);
    expect(resends()).toHaveLength(2);
  });

  it('nothing stored past the frontier (a lost last batch, or ingest down): only the next one, after 5× the wait', async () => {
    const { w, resends, at } = setup(9);
    await w.listed([disk(4)]);
    at(299_000);
    await w.listed([disk(4)]);
    expect(resends()).toEqual([]);
    at(300_000);
    await w.listed([disk(4)]);
    expect(resends()).toEqual(['resend d1/1 5']);
  });

  it('a frontier that moves is no loss: the wait starts again; one that reaches what was sent ends it', async () => {
    const { w, resends, at } = setup(9);
    await w.listed([disk(4, [6])]);
    at(50_000);
    await w.listed([disk(6)]);
    at(100_000);
    await w.listed([disk(6, [8])]);
    expect(resends()).toEqual([]);
    await w.listed([disk(9)]);
    at(900_000);
    await w.listed([disk(9)]);
    expect(resends()).toEqual([]);
  });

  it('says so when the spool no longer holds them; a control plane without stagedSeq confirms nothing', async () => {
    const { w, logs, at } = setup(9, false);
    await w.listed([disk(4, [5, 7])]);
    at(60_000);
    await w.listed([disk(4, [5, 7])]);
    expect(logs).toEqual(['batches sent and not stored in Azure are no longer in the spool']);
    const old = setup(9);
    await old.w.listed([disk(undefined)]);
    old.at(3_600_000);
    await old.w.listed([disk(undefined)]);
    expect(old.spool.calls).toEqual(['confirm ', 'confirm ']);
  });
});
