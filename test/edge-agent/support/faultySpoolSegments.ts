import type * as Segments from '../../../edge-agent/spoolSegments';

/**
 * Write faults for the spool's segment files, armed by a test: the next `writes` segment writes
 * write `partial` of their bytes, then fail as a full disk does; the next `creates` new segments
 * are made, then fail as a directory sync that fails. Installed with
 * `vi.mock('…/edge-agent/spoolSegments', …withFaultySegments…)`, so the spool's own error path
 * runs on real files.
 */
export const spoolFaults = { writes: 0, partial: 0.5, failed: 0, creates: 0 };

export function withFaultySegments(real: typeof Segments): typeof Segments {
  return {
    ...real,
    createSegment: async (dir, n) => {
      const fh = await real.createSegment(dir, n);
      if (spoolFaults.creates > 0) {
        // The file exists, and then its directory sync fails.
        spoolFaults.creates--;
        spoolFaults.failed++;
        await fh.close();
        throw Object.assign(new Error('EIO: i/o error, fsync (injected)'), { code: 'EIO' });
      }
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
