import { z } from 'zod';
import { validation } from '../errors';
import { diskIdSchema } from '../controlPlane/schemas';
import { cidrContains, parseCidr, parseIpv4 } from './ipv4';

/**
 * Recovery settings of one protected machine (issue 12 §3): where and how it comes up in
 * Azure. Stored sparse (only what an operator set); what is not set comes from defaults
 * derived from the machine (its disks, the IPv4 addresses its agent reports) and the
 * deployment (target resource group, region), so a machine is recoverable right after
 * protection. Validation that needs the target (the subnet exists, the IP is inside it) is in
 * `validateAgainstTarget`.
 */

const armIdSchema = z
  .string()
  .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/.+/, 'an ARM resource id');
/** Azure resource group names: 1–90 of letters, digits, _ - . ( ), not ending in '.'. */
export const resourceGroupSchema = z
  .string()
  .regex(/^[-\w.()]{0,89}[-\w()]$/, 'a resource group name (1–90: letters, digits, _-.())');
/** Virtual network names: 2–64, start alphanumeric, end alphanumeric or _. */
const vnetNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][-\w.]{0,62}\w$/, 'a virtual network name (2–64: letters, digits, _-.)');
const ipv4Schema = z.string().refine((s) => parseIpv4(s) !== undefined, 'an IPv4 address');
const cidrSchema = z
  .string()
  .refine(
    (s) => parseCidr(s) !== undefined && parseCidr(s)!.bits <= 29,
    'an IPv4 CIDR, /29 or wider',
  );

export const probeSchema = z
  .object({
    port: z.number().int().min(1).max(65535),
    path: z.string().regex(/^\/[\x21-\x7e]{0,200}$/, 'an absolute path'),
    expectedStatus: z.number().int().min(100).max(599),
    /** How long the saga waits for the probe to pass after the VM was created. */
    timeoutSeconds: z.number().int().min(5).max(3600),
  })
  .strict();

/** Every field, as the sagas use it. */
export const recoverySettingsSchema = z
  .object({
    resourceGroup: resourceGroupSchema,
    location: z.string().regex(/^[a-z0-9]{1,40}$/, 'a region name'),
    vmSize: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'a VM size, e.g. Standard_B2s'),
    /** The machine's disk that boots (the others attach as data disks in id order). */
    osDisk: diskIdSchema,
    /** Failover subnet (ARM id); absent = Haven's own vnet `failoverNetwork` in the target group. */
    subnetId: armIdSchema.optional(),
    /** The vnet Haven creates for failover when `subnetId` is absent (kept across failovers). */
    failoverNetwork: z.object({ name: vnetNameSchema, addressPrefix: cidrSchema }).strict(),
    /** Test failovers go into this isolated vnet (no peering), created if missing. */
    testNetwork: z.object({ name: vnetNameSchema, addressPrefix: cidrSchema }).strict(),
    /** 'keep': the source's address where the subnet allows, else dynamic. */
    privateIp: z.union([z.literal('keep'), z.literal('dynamic'), ipv4Schema]),
    publicIp: z.boolean(),
    /** An existing NSG for the NIC; absent = Haven creates one allowing the probe port inbound. */
    nsgId: armIdSchema.optional(),
    tags: z
      .record(z.string().max(512), z.string().max(256))
      .refine((t) => Object.keys(t).length <= 15, 'at most 15 tags'),
    probe: probeSchema,
    /** A test failover still running after this long is cleaned up by the timer. */
    testFailoverTtlHours: z
      .number()
      .min(0.001)
      .max(24 * 30),
  })
  .strict();

export type RecoverySettings = z.infer<typeof recoverySettingsSchema>;

/** PUT body: any subset (absent = default; `null` clears an optional field back to its default). */
export const recoverySettingsBody = z
  .object({
    resourceGroup: resourceGroupSchema.optional(),
    location: recoverySettingsSchema.shape.location.optional(),
    vmSize: recoverySettingsSchema.shape.vmSize.optional(),
    osDisk: diskIdSchema.optional(),
    subnetId: armIdSchema.nullable().optional(),
    failoverNetwork: recoverySettingsSchema.shape.failoverNetwork.optional(),
    testNetwork: recoverySettingsSchema.shape.testNetwork.optional(),
    privateIp: recoverySettingsSchema.shape.privateIp.optional(),
    publicIp: z.boolean().optional(),
    nsgId: armIdSchema.nullable().optional(),
    tags: recoverySettingsSchema.shape.tags.optional(),
    probe: probeSchema.partial().strict().optional(),
    testFailoverTtlHours: recoverySettingsSchema.shape.testFailoverTtlHours.optional(),
  })
  .strict();

export type RecoverySettingsBody = z.infer<typeof recoverySettingsBody>;
/** What is stored: the operator's explicit values only. */
export type StoredRecoverySettings = Omit<RecoverySettingsBody, 'subnetId' | 'nsgId'> & {
  subnetId?: string;
  nsgId?: string;
};

/** Facts defaults are derived from. */
export interface SettingsFacts {
  machineId: string;
  hostname: string;
  /** Disk ids, the OS disk first if known (else sorted: the first is taken as the OS disk). */
  disks: string[];
  /** IPv4 addresses the agent reports (primary first). */
  ipv4?: string[];
  /** Deployment defaults (config). */
  resourceGroup: string;
  location: string;
}

export const DEFAULT_PROBE = {
  port: 80,
  path: '/health',
  expectedStatus: 200,
  timeoutSeconds: 120,
};

/** The /24 around the source's primary address (so 'keep' works), else 10.20.1.0/24. */
function defaultPrefix(ipv4: string[] | undefined): string {
  const ip = ipv4?.find((a) => parseIpv4(a) !== undefined && !a.startsWith('127.'));
  if (!ip) return '10.20.1.0/24';
  const [a, b, c] = ip.split('.');
  return `${a}.${b}.${c}.0/24`;
}

export function defaultRecoverySettings(f: SettingsFacts): RecoverySettings {
  const prefix = defaultPrefix(f.ipv4);
  return {
    resourceGroup: f.resourceGroup,
    location: f.location,
    vmSize: 'Standard_B2s',
    osDisk: f.disks[0] ?? 'disk0',
    failoverNetwork: { name: `haven-${f.machineId}-vnet`, addressPrefix: prefix },
    // Same address space as failover (as ASR does), so a test keeps the IP it would get.
    testNetwork: { name: `haven-${f.machineId}-test-vnet`, addressPrefix: prefix },
    privateIp: 'keep',
    publicIp: true,
    tags: {},
    probe: { ...DEFAULT_PROBE },
    testFailoverTtlHours: 24,
  };
}

/** Stored values over defaults; the result is re-validated (a default may not fit a stored value). */
export function effectiveSettings(
  stored: StoredRecoverySettings | undefined,
  f: SettingsFacts,
): RecoverySettings {
  const d = defaultRecoverySettings(f);
  const s = stored ?? {};
  return {
    ...d,
    ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined && v !== null)),
    probe: { ...d.probe, ...(s.probe ?? {}) },
  } as RecoverySettings;
}

/** Applies a PUT body to the stored values (null clears), then checks the whole against the machine. */
export function applySettingsBody(
  stored: StoredRecoverySettings | undefined,
  body: RecoverySettingsBody,
  f: SettingsFacts,
): { stored: StoredRecoverySettings; effective: RecoverySettings } {
  const next: Record<string, unknown> = { ...(stored ?? {}) };
  for (const [k, v] of Object.entries(body)) {
    if (v === null) delete next[k];
    else if (v !== undefined)
      next[k] = k === 'probe' ? { ...(stored?.probe ?? {}), ...(v as object) } : v;
  }
  const effective = effectiveSettings(next as StoredRecoverySettings, f);
  checkSettings(effective, f);
  return { stored: next as StoredRecoverySettings, effective };
}

/** Checks that need no I/O: the OS disk is the machine's, a static IP lies in Haven's own subnet. */
export function checkSettings(s: RecoverySettings, f: SettingsFacts): void {
  const parsed = recoverySettingsSchema.safeParse(s);
  if (!parsed.success)
    throw validation('Invalid recovery settings.', {
      issues: parsed.error.issues.map((i) => i.message),
    });
  if (!f.disks.includes(s.osDisk))
    throw validation(`The OS disk '${s.osDisk}' is not a disk of the machine.`, {
      disks: f.disks,
    });
  if (!s.subnetId && parseIpv4(s.privateIp) !== undefined) {
    if (!cidrContains(s.failoverNetwork.addressPrefix, s.privateIp))
      throw validation(
        `The private IP ${s.privateIp} is not inside the failover subnet ${s.failoverNetwork.addressPrefix}.`,
      );
  }
}

/**
 * The private IP a NIC asks for: an explicit one; the source's primary address when 'keep'
 * and it lies inside the subnet (never one of Azure's 5 reserved addresses); else dynamic.
 */
export function chooseStaticIp(
  setting: RecoverySettings['privateIp'],
  subnetPrefix: string,
  sourceIps: readonly string[],
): string | undefined {
  if (setting === 'dynamic') return undefined;
  if (setting !== 'keep') return setting;
  const net = parseCidr(subnetPrefix);
  if (!net) return undefined;
  for (const ip of sourceIps) {
    const n = parseIpv4(ip);
    if (n === undefined || !cidrContains(subnetPrefix, ip)) continue;
    const offset = n - net.base;
    const size = 2 ** (32 - net.bits);
    if (offset >= 4 && offset < size - 1) return ip; // Azure reserves .0–.3 and the last
  }
  return undefined;
}
