import { describe, expect, it } from 'vitest';
import { TEST_FAILOVER, testFailoverOrchestrator } from '../../orchestrations/testFailover';
import { happyTarget, recoveryInput, runRecovery, type Call } from './recoveryReplay';

const input = recoveryInput('test-failover', 'latest');
const names = (calls: Call[], name: string) => calls.filter((c) => c.name === name);
const putTypes = (calls: Call[]) =>
  names(calls, 'Recovery_BeginPut').map((c) => String(c.input.type).split('/').pop());

describe('test failover saga, replayed by the real SDK', () => {
  it('brings the point up in the isolated test network, probes it and records the test', async () => {
    const { r, calls } = await runRecovery(
      testFailoverOrchestrator,
      TEST_FAILOVER,
      input,
      happyTarget(),
    );
    expect(r.outcome.kind).toBe('completed');
    expect(putTypes(calls).sort()).toEqual(
      [
        'resourceGroups',
        'virtualNetworks',
        'networkSecurityGroups',
        'publicIPAddresses',
        'networkInterfaces',
        'disks',
        'disks',
        'virtualMachines',
      ].sort(),
    );
    const vnet = names(calls, 'Recovery_BeginPut').find(
      (c) => c.input.type === 'Microsoft.Network/virtualNetworks',
    )!;
    expect(vnet.input).toMatchObject({
      name: input.settings.testNetwork.name,
      addressPrefixes: ['192.168.7.0/24'],
    });
    const nic = names(calls, 'Recovery_BeginPut').find(
      (c) => c.input.type === 'Microsoft.Network/networkInterfaces',
    )!;
    expect(nic.input).toMatchObject({ privateIp: '192.168.7.21' }); // kept: inside the subnet
    const disks = names(calls, 'Recovery_BeginPut').filter(
      (c) => c.input.type === 'Microsoft.Compute/disks',
    );
    expect(disks.map((d) => d.input.name)).toEqual([
      'haven-00abcdef-m-1-osdisk',
      'haven-00abcdef-m-1-disk-sdb',
    ]);
    expect(disks[0]!.input.source).toMatchObject({
      kind: 'import',
      sourceUri: expect.stringContaining('/recovery/'),
    });
    const vm = names(calls, 'Recovery_BeginPut').find(
      (c) => c.input.type === 'Microsoft.Compute/virtualMachines',
    )!;
    expect(vm.input).toMatchObject({
      osDiskId: expect.stringContaining('osdisk'),
      dataDisks: [{ lun: 0 }],
    });
    // The VM is created only after both disks and the NIC exist.
    const idx = (pred: (c: Call) => boolean) => calls.findIndex(pred);
    expect(idx((c) => c === vm)).toBeGreaterThan(idx((c) => c === nic));
    // Base blobs go once the disks exist; nothing is deleted otherwise.
    expect(names(calls, 'Recovery_DeleteBase')).toHaveLength(2);
    expect(names(calls, 'Recovery_BeginDelete')).toHaveLength(0);
    expect(names(calls, 'Recovery_Record').at(-1)!.input).toMatchObject({
      change: {
        kind: 'test-ready',
        vm: { pointId: 'p1', publicIp: '127.1.0.5', createdVnet: true },
      },
    });
    const last = names(calls, 'Recovery_Job').at(-1)!.input;
    expect(last).toMatchObject({ state: 'succeeded', allowedActions: ['cleanup'] });
    expect(Object.keys(last.result as object)).toContain('timings');
    // Each step reported its start and end.
    const stepped = names(calls, 'Recovery_Job').flatMap(
      (c) => (c.input.steps ?? []) as { name: string; state: string }[],
    );
    for (const s of [
      'point-wait',
      'network',
      'disk-import',
      'vm-create',
      'boot',
      'probe',
      'record',
    ])
      expect(stepped.filter((x) => x.name === s).map((x) => x.state)).toEqual([
        'running',
        'succeeded',
      ]);
  });

  it('a failed VM create compensates every resource it made, newest first, and clears the record', async () => {
    const failVm = happyTarget({
      Recovery_Poll: (c) =>
        String(c.input.state).startsWith('op-') && String(c.input.state).endsWith('-vm')
          ? {
              status: 'failed',
              code: 'VMPlatformUnavailable',
              message: 'qemu missing',
              retryable: false,
            }
          : { status: 'succeeded', resource: { properties: {} } },
    });
    const { r, calls } = await runRecovery(testFailoverOrchestrator, TEST_FAILOVER, input, failVm);
    expect(r.outcome.kind).toBe('failed');
    const deleted = names(calls, 'Recovery_BeginDelete').map((c) =>
      String(c.input.id).split('/').slice(-2).join('/'),
    );
    // Everything PUT (but the resource group) is deleted, in an order Azure accepts: the VM
    // before its disks and NIC, the NIC before its public IP, NSG and vnet.
    const at = (part: string) => deleted.findIndex((d) => d.includes(part));
    expect(at('virtualMachines/')).toBe(0);
    expect(at('networkInterfaces/')).toBeLessThan(at('publicIPAddresses/'));
    expect(at('networkInterfaces/')).toBeLessThan(at('networkSecurityGroups/'));
    expect(at('networkInterfaces/')).toBeLessThan(at('virtualNetworks/'));
    expect(at('disks/')).toBeGreaterThan(at('virtualMachines/'));
    expect(deleted).toHaveLength(7);
    expect(names(calls, 'Recovery_Record').at(-1)!.input).toMatchObject({
      change: { kind: 'test-clear' },
    });
    expect(names(calls, 'Recovery_Job').at(-1)!.input).toMatchObject({
      state: 'failed',
      error: { message: expect.stringContaining('VMPlatformUnavailable') },
    });
  });

  it('an operation ARM calls retryable is started again (same name) and the saga goes on', async () => {
    let vmFailures = 0;
    const flaky = happyTarget({
      Recovery_Poll: (c) =>
        String(c.input.state).endsWith('-vm') && vmFailures++ === 0
          ? { status: 'failed', code: 'InternalServerError', message: 'try again', retryable: true }
          : { status: 'succeeded', resource: { properties: {} } },
    });
    const { r, calls } = await runRecovery(testFailoverOrchestrator, TEST_FAILOVER, input, flaky);
    expect(r.outcome.kind).toBe('completed');
    const vmPuts = names(calls, 'Recovery_BeginPut').filter(
      (c) => c.input.type === 'Microsoft.Compute/virtualMachines',
    );
    expect(vmPuts).toHaveLength(2);
    expect(vmPuts[0]!.input.name).toBe(vmPuts[1]!.input.name);
    expect(names(calls, 'Recovery_BeginDelete')).toHaveLength(0);
  });

  it('one disk failing while the network step is still running: both finish, then all is undone', async () => {
    const failDisk = happyTarget({
      Recovery_Poll: (c) =>
        String(c.input.state) === 'op-haven-00abcdef-m-1-osdisk'
          ? { status: 'failed', code: 'ImportFailed', message: 'not a VHD', retryable: false }
          : { status: 'succeeded', resource: { properties: {} } },
    });
    const { r, calls } = await runRecovery(
      testFailoverOrchestrator,
      TEST_FAILOVER,
      input,
      failDisk,
    );
    expect(r.outcome.kind).toBe('failed');
    const put = names(calls, 'Recovery_BeginPut').map((c) => String(c.input.name));
    const deleted = names(calls, 'Recovery_BeginDelete').map((c) =>
      String(c.input.id).split('/').pop(),
    );
    // The network step ran to its end (NIC made) and everything made is deleted; no VM was tried.
    expect(put).toContain('haven-00abcdef-m-1-nic');
    expect(put).not.toContain('haven-00abcdef-m-1-vm');
    for (const name of put.filter((n) => n !== 'rg-dr')) expect(deleted).toContain(name);
    expect(names(calls, 'Recovery_DeleteBase').length).toBeGreaterThanOrEqual(2);
    expect(names(calls, 'Recovery_Job').at(-1)!.input).toMatchObject({
      state: 'failed',
      error: { message: expect.stringContaining('ImportFailed') },
    });
  });

  /** A test failover whose VM never answers its probe (5 s allowed); its console ends with `tail`. */
  const silentVm = (tail: string | null, over: Parameters<typeof happyTarget>[0] = {}) =>
    runRecovery(
      testFailoverOrchestrator,
      TEST_FAILOVER,
      {
        ...input,
        settings: { ...input.settings, probe: { ...input.settings.probe, timeoutSeconds: 5 } },
      },
      happyTarget({
        Recovery_Probe: () => ({ connected: false }),
        Recovery_ConsoleTail: () => tail,
        ...over,
      }),
    );

  /** The job ended failed with `message`, pointing at the console's end `tail` in its result. */
  const expectConsoleFailure = (calls: Call[], message: string, tail: string) =>
    expect(names(calls, 'Recovery_Job').at(-1)!.input).toMatchObject({
      state: 'failed',
      error: {
        message: `${message} The end of its serial console is in the job's result (bootDiagnostics).`,
      },
      result: { bootDiagnostics: tail },
    });

  it('a VM that never answers: the job fails with the end of its serial console, read before the VM goes', async () => {
    const tail = 'Run /init as init process\nKernel panic - not syncing: no root';
    const { r, calls } = await silentVm(tail);
    expect(r.outcome.kind).toBe('failed');
    const at = (name: string, part = '') =>
      calls.findIndex((c) => c.name === name && String(c.input.id ?? '').includes(part));
    expect(at('Recovery_ConsoleTail', 'virtualMachines/')).toBeGreaterThan(-1);
    expect(at('Recovery_ConsoleTail')).toBeLessThan(at('Recovery_BeginDelete', 'virtualMachines/'));
    expectConsoleFailure(calls, 'The recovered VM did not boot within 5 s.', tail);
  });

  it('a VM that powers off while booting fails the job at the next check, not at the deadline', async () => {
    let views = 0;
    const { r, calls } = await silentVm('reboot: Power down', {
      Recovery_InstanceView: () => ({
        powerState: ++views === 1 ? 'running' : 'stopped',
        privateIps: ['192.168.7.21'],
        publicIps: ['127.1.0.5'],
      }),
    });
    expect(r.outcome.kind).toBe('failed');
    expect(names(calls, 'Recovery_Probe')).toHaveLength(10); // 2 s at the 200 ms poll, not 5 s
    expectConsoleFailure(
      calls,
      "The recovered VM stopped while booting (power state 'stopped').",
      'reboot: Power down',
    );
  });

  it('a VM that answers, but never the expected status: the last answer is in the message', async () => {
    const { r, calls } = await silentVm('nginx: started', {
      Recovery_Probe: () => ({ connected: true, status: 503 }),
    });
    expect(r.outcome.kind).toBe('failed');
    expectConsoleFailure(
      calls,
      'The recovered VM did not answer 200 at /health within 5 s (its last answer: HTTP 503).',
      'nginx: started',
    );
  });

  it('the same without a console to read: the message alone', async () => {
    const { r, calls } = await silentVm(null);
    expect(r.outcome.kind).toBe('failed');
    const last = names(calls, 'Recovery_Job').at(-1)!.input;
    expect(last).toMatchObject({ error: { message: 'The recovered VM did not boot within 5 s.' } });
    expect(last.result).not.toHaveProperty('bootDiagnostics');
  });

  it('an existing test vnet is used and left alone', async () => {
    const target = happyTarget({ Recovery_Get: () => ({ id: 'vnet', properties: {} }) });
    const { r, calls } = await runRecovery(testFailoverOrchestrator, TEST_FAILOVER, input, target);
    expect(r.outcome.kind).toBe('completed');
    expect(putTypes(calls)).not.toContain('virtualNetworks');
    expect(names(calls, 'Recovery_Record').at(-1)!.input).toMatchObject({
      change: { vm: { createdVnet: false } },
    });
  });
});
