import { describe, expect, it } from 'vitest';
import { ResendWatch } from '../../edge-agent/resendWatch';
import type { CloudDisk } from '../../edge-agent/controlPlaneClient';
import type { SpoolKey } from '../../edge-agent/spoolTypes';

/** A spool that took batches 1..sentTo of d1/1 and holds them; records what the watch asks. */
function fakeSpool(sentTo: number, holds = true) {
  const calls: string[] = [];
  return {
    calls,
    sentTo,
    confirm: async (stored: readonly (SpoolKey & { seq: number })[]) =>
      void calls.push(
        `confirm ${stored.map((s) => `${s.diskId}/${s.generation}:${s.seq}`).join(',')}`,
      ),
    ackedSeq: () => sentTo,
    resend: (k: SpoolKey, from: number) => {
      calls.push(`resend ${k.diskId}/${k.generation} from ${from}`);
      return holds;
    },
  };
}

const disk = (stagedSeq?: number, generation = 1): CloudDisk => ({
  id: 'd1',
  sizeBytes: 1 << 20,
  logicalSectorSize: 512,
  generation,
  ...(stagedSeq === undefined ? {} : { stagedSeq }),
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
    return { w, spool, logs, at: (t: number) => void (now = t) };
  };

  it('confirms each listing; sends again once the frontier has not moved for the wait, then backs off', async () => {
    const { w, spool, logs, at } = setup(9);
    await w.listed([disk(4)]);
    at(59_000);
    await w.listed([disk(4)]);
    expect(spool.calls.filter((c) => c.startsWith('resend'))).toEqual([]);
    at(60_000);
    await w.listed([disk(4)]);
    expect(spool.calls.at(-1)).toBe('resend d1/1 from 5');
    expect(spool.calls[0]).toBe('confirm d1/1:4');
    expect(logs).toEqual(['sending batches again: sent, and not stored in Azure']);
    // The same batches again only after twice the wait.
    at(119_000);
    await w.listed([disk(4)]);
    expect(spool.calls.filter((c) => c.startsWith('resend'))).toHaveLength(1);
    at(180_000);
    await w.listed([disk(4)]);
    expect(spool.calls.filter((c) => c.startsWith('resend'))).toHaveLength(2);
  });

  it('a frontier that moves is no loss: the wait starts again; one that reaches what was sent ends it', async () => {
    const { w, spool, at } = setup(9);
    await w.listed([disk(4)]);
    at(50_000);
    await w.listed([disk(6)]);
    at(100_000);
    await w.listed([disk(6)]);
    expect(spool.calls.filter((c) => c.startsWith('resend'))).toEqual([]);
    await w.listed([disk(9)]);
    at(500_000);
    await w.listed([disk(9)]);
    expect(spool.calls.filter((c) => c.startsWith('resend'))).toEqual([]);
  });

  it('says so when the spool no longer holds them; a control plane without stagedSeq confirms nothing', async () => {
    const { w, spool, logs, at } = setup(9, false);
    await w.listed([disk(4)]);
    at(60_000);
    await w.listed([disk(4)]);
    expect(logs).toEqual(['batches sent and not stored in Azure are no longer in the spool']);
    const old = setup(9);
    await old.w.listed([disk(undefined)]);
    old.at(600_000);
    await old.w.listed([disk(undefined)]);
    expect(old.spool.calls).toEqual(['confirm ', 'confirm ']);
    expect(spool.calls[0]).toBe('confirm d1/1:4');
  });
});
