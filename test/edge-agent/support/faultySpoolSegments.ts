import type * as Segments from '../../../edge-agent/spoolSegments';

/**
 * Write faults for the spool's segment files, armed by a test: the next `writes` segment writes
 * write `partial` of their bytes, then fail as a full disk does. Installed with
 * `vi.mock('…/edge-agent/spoolSegments', …withFaultySegments…)`, so the spool's own error path
 * runs on real files.
 */
export const spoolFaults = { writes: 0, partial: 0.5, failed: 0 };

export function withFaultySegments(real: typeof Segments): typeof Segments {
  return {
    ...real,
    createSegment: async (dir, n) => {
      const fh = await real.createSegment(dir, n);
      const writev = fh.writev.bind(fh);
      const faulty = async (bufs: Buffer[], position: number) => {
        if (spoolFaults.writes <= 0) return writev(bufs, position);
        spoolFaults.writes--;
        spoolFaults.failed++;
        const all = Buffer.concat(bufs);
        await fh.write(all, 0, Math.floor(all.length * spoolFaults.partial), position);
        throw Object.assign(new Error('ENOSPC: no space left on device, write (injected)'), {
          code: 'ENOSPC',
        });
      };
      return Object.assign(fh, { writev: faulty });
    },
  };
}
