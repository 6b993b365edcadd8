import { describe, expect, it } from 'vitest';
import { built, runProgram } from '../../support/procs';

/**
 * `npm run demo` is the product's furthest path end to end and checks itself (it exits non-zero
 * on any mismatch); run it here on a small disk so it cannot rot between releases.
 */
describe('demo', () => {
  it('runs every step and proves every restore', { timeout: 300_000 }, async () => {
    // The built demo, as `npm run demo` runs it.
    const r = await runProgram(process.execPath, [built('local/demo/main.ts')], {
      env: { HAVEN_DEMO_DISK_MIB: '32' },
      allowFail: true,
      timeoutMs: 280_000,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Demo passed/);
    // The restores it proved: two points, the resync's new and old ones, the live one, the
    // timed group cut (a barrier).
    expect(r.stdout.match(/equals the source at its bookmark; e2fsck clean/g)).toHaveLength(6);
    // The replicas in their own storage account, as deployed; recovery imports from there.
    expect(r.stdout).toMatch(/replica page blob \S+ in storage account 'havenreplicas', none in/);
    expect(r.stdout).toMatch(/timed consistency-group cut .*\(barrier across 1 member\)/);
    // One machine recovered step by step, each step checked by the demo itself.
    expect(r.stdout).toMatch(/test failover \(job \S+\): a VM at \S+ serves 'v1'/);
    expect(r.stdout).toMatch(/recovery point changed \(job \S+\): the same \S+ serves 'v1' now/);
    expect(r.stdout).toMatch(/committed at \S+: the server runs in Azure/);
    // It ends with a recovery plan failed over by an alert, each server serving its data.
    expect(r.stdout).toMatch(/plan job \S+ succeeded: alert → every server answering in/);
    expect(r.stdout.match(/runs as a VM at \S+ and serves its data/g)).toHaveLength(2);
    // And the way back: failback onto the site disk, which boots and serves what Azure wrote;
    // commit; re-enable without a full resync.
    expect(r.stdout).toMatch(/failed back \(job \S+\): the agent applied \d+ reverse batches/);
    expect(r.stdout).toMatch(
      /the site server boots from its own disk .* serves the file written in Azure/,
    );
    expect(r.stdout).toMatch(
      /failback committed: \d+ Azure resources removed, 1 seed snapshot kept/,
    );
    expect(r.stdout).toMatch(/re-enabled \(job \S+\) without a full resync/);
  });
});
