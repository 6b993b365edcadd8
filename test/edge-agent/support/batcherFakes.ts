import type { AgentDisk, ChangeSource } from '../../../edge-agent/changeSource';

/** A disk the batcher only needs the shape of (nothing reads it). */
export function fakeDisk(sizeBytes: number): AgentDisk {
  return { id: 'd0', path: '-', sizeBytes, sectorSize: 512, generation: 1 };
}

/** The batcher's view of a source: what it was told (committed positions); nothing may come back. */
export function fakeSource() {
  const committed: number[] = [];
  const source = {
    changes: async function* () {},
    requestBookmark: async () => undefined,
    committed: (pos: number) => committed.push(pos),
    invalidate: () => {
      throw new Error('nothing may be handed back: the spool has room');
    },
    checkpoint: async () => undefined,
    close: async () => undefined,
  } satisfies ChangeSource;
  return { source, committed };
}
