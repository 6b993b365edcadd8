import { describe, expect, it } from 'vitest';
import { jobText } from '../../admin-cli/jobCommand';

describe('haven job: a failed recovery job', () => {
  it('prints its error and the end of the VM serial console the job kept', () => {
    const text = jobText({
      id: 'job-1',
      type: 'test-failover',
      state: 'failed',
      steps: [{ name: 'boot', state: 'failed', detail: 'The recovered VM stopped while booting.' }],
      error: { kind: 'saga-failed', message: 'The recovered VM stopped while booting.' },
      result: {
        bootDiagnostics: 'HAVEN-INITRAMFS: boot failed: no root\n[ 2.41] reboot: Power down',
      },
    });
    expect(text.split('\n').slice(-4)).toEqual([
      '  error: The recovered VM stopped while booting.',
      '  serial console (its end):',
      '    HAVEN-INITRAMFS: boot failed: no root',
      '    [ 2.41] reboot: Power down',
    ]);
  });

  it('a job without one prints no such section', () => {
    const text = jobText({ id: 'job-2', type: 'failover', state: 'succeeded', result: {} });
    expect(text).not.toMatch(/serial console/);
  });
});
