import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { HavenError } from '../core/errors';
import type { AgentDisk } from './changeSource';
import { readJson, writeFileAtomic } from './fsUtil';

export const DEFAULT_STATE_DIR = '/var/lib/haven-agent';

/** The agent's identity: written once at enrollment, mode 0600 (it holds the credential and data key). */
export interface AgentIdentity {
  api: string;
  machineId: string;
  credential: string;
  keyId: string;
  /** base64 of the 32-byte batch data key. */
  dataKey: string;
  /**
   * Earlier data keys of this machine (after a rotation or a replacement): they open what the
   * cloud sealed before (reverse batches of a failback in flight); nothing new is sealed with them.
   */
  previousKeys?: { keyId: string; dataKey: string }[];
  name: string;
  enrolledAt: string;
}

export interface AgentSettings {
  /**
   * Spool bound in bytes, for batches not sent yet; sent ones kept until the control plane lists
   * them stored take at most half as much again (spoolTypes.ts `agentSpoolOptions`).
   */
  spoolMaxBytes?: number;
  /** How long a full spool holds the change stream before handing ranges back as dirty. */
  spoolFullWaitMs?: number;
  /** Crash bookmark interval (policy default 5 s). */
  bookmarkIntervalSeconds?: number;
  /** How often `run` asks the control plane for consistency-group cuts (default 5 s). */
  groupPollSeconds?: number;
  /** How long a batch Event Hubs took may go unstored in Azure before it is sent again (60 s). */
  resendAfterSeconds?: number;
  hooks?: { preFreeze?: string; postThaw?: string; timeoutSeconds?: number };
}

/** The data key named `keyId`, current or earlier; undefined when this agent never held it. */
export function dataKeyOf(id: AgentIdentity, keyId: string): Buffer | undefined {
  const k =
    id.keyId === keyId ? id.dataKey : id.previousKeys?.find((p) => p.keyId === keyId)?.dataKey;
  return k === undefined ? undefined : Buffer.from(k, 'base64');
}

/** Everything the agent keeps under its state directory. */
export class AgentState {
  constructor(readonly dir: string) {}

  get identityFile() {
    return path.join(this.dir, 'agent.json');
  }
  get disksFile() {
    return path.join(this.dir, 'disks.json');
  }
  get settingsFile() {
    return path.join(this.dir, 'settings.json');
  }
  get statusFile() {
    return path.join(this.dir, 'status.json');
  }
  get spoolDir() {
    return path.join(this.dir, 'spool');
  }
  get indexDir() {
    return path.join(this.dir, 'index');
  }
  get requestsDir() {
    return path.join(this.dir, 'requests');
  }
  /** Recent bookmarks with the seq of their batch per disk/generation (maps points to seqs). */
  get bookmarksFile() {
    return path.join(this.dir, 'bookmarks.json');
  }
  /** Consistency-group cuts already inserted (each at most once, across restarts). */
  get groupCutsFile() {
    return path.join(this.dir, 'group-cuts.json');
  }
  get lockFile() {
    return path.join(this.dir, 'agent.pid');
  }

  async ensure(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fsp.chmod(this.dir, 0o700);
  }

  async identity(): Promise<AgentIdentity> {
    const id = await readJson<AgentIdentity>(this.identityFile);
    if (!id)
      throw new HavenError(
        'precondition',
        `This agent is not enrolled (no ${this.identityFile}); run 'haven-agent enroll' first.`,
      );
    return id;
  }

  async saveIdentity(id: AgentIdentity): Promise<void> {
    await this.ensure();
    await writeFileAtomic(this.identityFile, JSON.stringify(id, null, 2), 0o600);
  }

  async disks(): Promise<AgentDisk[]> {
    return (await readJson<AgentDisk[]>(this.disksFile)) ?? [];
  }

  async saveDisks(d: AgentDisk[]): Promise<void> {
    await writeFileAtomic(this.disksFile, JSON.stringify(d, null, 2), 0o600);
  }

  async settings(): Promise<AgentSettings> {
    return (await readJson<AgentSettings>(this.settingsFile)) ?? {};
  }

  /** pid of a live `run` holding this state dir, if any. */
  async runningPid(): Promise<number | undefined> {
    const s = await fsp.readFile(this.lockFile, 'utf8').catch(() => '');
    const pid = Number(s.trim());
    if (!pid || pid === process.pid) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  async lock(): Promise<void> {
    const other = await this.runningPid();
    if (other)
      throw new HavenError(
        'conflict',
        `Another haven-agent (pid ${other}) is running on ${this.dir}.`,
      );
    await writeFileAtomic(this.lockFile, String(process.pid), 0o600);
  }

  async unlock(): Promise<void> {
    const s = await fsp.readFile(this.lockFile, 'utf8').catch(() => '');
    if (Number(s.trim()) === process.pid) await fsp.rm(this.lockFile, { force: true });
  }
}
