import { describe, expect, it } from 'vitest';
import {
  applySettingsBody,
  chooseStaticIp,
  defaultRecoverySettings,
  effectiveSettings,
  recoverySettingsSchema,
  type SettingsFacts,
} from '../../../core/recovery/settings';
import { cidrContains, parseCidr } from '../../../core/recovery/ipv4';
import { jobShort, recoveryNames } from '../../../core/recovery/resourceNames';

const facts: SettingsFacts = {
  machineId: 'm-0123456789abcdef0123',
  hostname: 'web01',
  disks: ['sda', 'sdb'],
  ipv4: ['192.168.7.21'],
  resourceGroup: 'haven-recovery',
  location: 'local',
};

describe('recovery settings', () => {
  it('defaults make a machine recoverable right after protection (and validate)', () => {
    const d = defaultRecoverySettings(facts);
    expect(recoverySettingsSchema.safeParse(d).success).toBe(true);
    expect(d).toMatchObject({
      resourceGroup: 'haven-recovery',
      osDisk: 'sda',
      privateIp: 'keep',
      publicIp: true,
      probe: { port: 80, path: '/health', expectedStatus: 200 },
    });
    // The subnet Haven creates covers the source's address, so 'keep' keeps it.
    expect(d.failoverNetwork.addressPrefix).toBe('192.168.7.0/24');
    expect(d.testNetwork.addressPrefix).toBe(d.failoverNetwork.addressPrefix);
    expect(d.testNetwork.name).not.toBe(d.failoverNetwork.name);
    expect(defaultRecoverySettings({ ...facts, ipv4: [] }).failoverNetwork.addressPrefix).toBe(
      '10.20.1.0/24',
    );
  });

  it('a PUT body merges over stored values; null clears back to the default', () => {
    const a = applySettingsBody(
      undefined,
      { vmSize: 'Standard_D2s_v3', probe: { port: 8080 } },
      facts,
    );
    expect(a.effective.vmSize).toBe('Standard_D2s_v3');
    expect(a.effective.probe).toMatchObject({ port: 8080, path: '/health' });
    const b = applySettingsBody(a.stored, { probe: { path: '/data/x' }, publicIp: false }, facts);
    expect(b.effective.probe).toMatchObject({ port: 8080, path: '/data/x' });
    expect(b.effective.publicIp).toBe(false);
    const c = applySettingsBody(b.stored, { vmSize: null as never }, facts);
    expect(c.effective.vmSize).toBe('Standard_B2s');
    expect(effectiveSettings(c.stored, facts).probe.port).toBe(8080);
  });

  it('refuses an OS disk the machine does not have and a static IP outside Haven’s subnet', () => {
    expect(() => applySettingsBody(undefined, { osDisk: 'nvme9' }, facts)).toThrowError(
      expect.objectContaining({ kind: 'validation' }),
    );
    expect(() => applySettingsBody(undefined, { privateIp: '10.9.9.9' }, facts)).toThrowError(
      expect.objectContaining({ kind: 'validation' }),
    );
    expect(
      applySettingsBody(undefined, { privateIp: '192.168.7.50' }, facts).effective.privateIp,
    ).toBe('192.168.7.50');
  });

  it("'keep' takes the source's address only where the subnet allows it", () => {
    expect(chooseStaticIp('keep', '192.168.7.0/24', ['192.168.7.21'])).toBe('192.168.7.21');
    expect(chooseStaticIp('keep', '10.0.0.0/24', ['192.168.7.21'])).toBeUndefined();
    // Azure reserves the first four and the last address of a subnet.
    expect(chooseStaticIp('keep', '192.168.7.0/24', ['192.168.7.2'])).toBeUndefined();
    expect(chooseStaticIp('keep', '192.168.7.0/24', ['192.168.7.255'])).toBeUndefined();
    expect(chooseStaticIp('dynamic', '192.168.7.0/24', ['192.168.7.21'])).toBeUndefined();
    expect(chooseStaticIp('10.1.1.9', '10.1.1.0/24', [])).toBe('10.1.1.9');
  });

  it('CIDR arithmetic', () => {
    expect(parseCidr('10.1.2.3/16')).toEqual({ base: (10 << 24) + (1 << 16), bits: 16 });
    expect(cidrContains('10.1.0.0/16', '10.1.255.4')).toBe(true);
    expect(cidrContains('10.1.0.0/16', '10.2.0.1')).toBe(false);
    expect(parseCidr('300.1.1.1/8')).toBeUndefined();
  });
});

describe('recovery resource names', () => {
  it('derive from the job id, fit Azure limits, and differ per job', () => {
    const n = recoveryNames('job-0123456789abcdef0123', facts.machineId);
    expect(jobShort('job-0123456789abcdef0123')).toBe('cdef0123');
    expect(n.vm).toBe(`haven-cdef0123-${facts.machineId}-vm`);
    expect(n.disk('sda', true)).toMatch(/-osdisk$/);
    expect(n.disk('sdb', false)).toMatch(/-disk-sdb$/);
    for (const x of [n.vm, n.nic, n.publicIp, n.nsg, n.disk('sda', true)]) {
      expect(x.length).toBeLessThanOrEqual(64);
      expect(x).toMatch(/^[a-z0-9-]+$/);
    }
    expect(recoveryNames('job-ffffffffffffffff0000', facts.machineId).vm).not.toBe(n.vm);
    expect(recoveryNames('job-x', 'a'.repeat(64)).vm.length).toBeLessThanOrEqual(64);
  });
});
