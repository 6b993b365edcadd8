import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the endpoint keeps of a resource: its ARM JSON, plus facts that never leave it. */
export interface StoredResource {
  /** As first written (ARM ids compare case-insensitively; see `key`). */
  id: string;
  type: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  sku?: { name: string };
  /** The `properties` of the ARM JSON, `provisioningState` included. */
  properties: Record<string, unknown>;
  managedBy?: string;
  local?: LocalFacts;
}

/** The local side of a resource: files, loopback addresses, process state. */
export interface LocalFacts {
  /** Disks and snapshots: the raw image file. */
  file?: string;
  /** Incremental snapshots: the 64 KiB-block digest map file. */
  digests?: string;
  /** Public IPs: the loopback address standing for it. */
  loopbackIp?: string;
  /** NICs: MAC address. */
  mac?: string;
  /** VMs: what the guest is supposed to be doing (survives restarts). */
  power?: 'running' | 'stopped' | 'deallocated';
  /** VMs: why the guest is not running when it should (runner failures). */
  statusMessage?: string;
  /** Disks/snapshots with an active access grant: the token of the access URI. */
  accessToken?: string;
  accessExpiresAt?: number;
}

export interface StoredOperation {
  id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  resourceId: string;
  kind: string;
  startedAt: string;
  endedAt?: string;
  error?: { code: string; message: string };
  /** The body the operation's Location URL answers once done (e.g. `{accessSAS}`). */
  result?: unknown;
}

interface State {
  resources: Record<string, StoredResource>;
  operations: Record<string, StoredOperation>;
  nextLoopback: number;
  /** 127.<a>.<b>.0/… picked at random when the state is created, so that two stacks running at
   * once (test workers) do not hand out the same addresses. */
  loopbackBase: [number, number];
}

export const key = (id: string) => id.toLowerCase().replace(/\/+$/, '');

/**
 * The endpoint's state in one JSON file, rewritten atomically (temp + rename) after every
 * change: small (hundreds of resources at most locally) and a kill at any moment leaves the
 * previous or the next state, never a torn one.
 */
export class ArmStore {
  private state: State;
  private readonly file: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
    this.state = existsSync(this.file)
      ? (JSON.parse(readFileSync(this.file, 'utf8')) as State)
      : {
          resources: {},
          operations: {},
          nextLoopback: 0,
          loopbackBase: [64 + Math.floor(Math.random() * 64), Math.floor(Math.random() * 256)],
        };
  }

  save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  get(id: string): StoredResource | undefined {
    return this.state.resources[key(id)];
  }

  put(r: StoredResource): StoredResource {
    this.state.resources[key(r.id)] = r;
    this.save();
    return r;
  }

  delete(id: string): void {
    delete this.state.resources[key(id)];
    this.save();
  }

  /** Every resource whose id starts with `prefix` (case-insensitive), e.g. a resource group's. */
  list(filter: (r: StoredResource) => boolean = () => true): StoredResource[] {
    return Object.values(this.state.resources).filter(filter);
  }

  inGroup(subscriptionPath: string, resourceGroup: string, type?: string): StoredResource[] {
    const prefix = key(`${subscriptionPath}/resourceGroups/${resourceGroup}/providers/`);
    return this.list(
      (r) => key(r.id).startsWith(prefix) && (!type || r.type.toLowerCase() === type.toLowerCase()),
    );
  }

  operation(id: string): StoredOperation | undefined {
    return this.state.operations[id];
  }

  putOperation(op: StoredOperation): void {
    this.state.operations[op.id] = op;
    this.save();
  }

  operations(): StoredOperation[] {
    return Object.values(this.state.operations);
  }

  /** The next loopback address for a public IP, never reused (like a released IP). */
  allocateLoopback(): string {
    const n = this.state.nextLoopback++;
    this.save();
    const [a, b] = this.state.loopbackBase;
    return `127.${a}.${(b + Math.floor(n / 250)) % 256}.${(n % 250) + 2}`;
  }
}
