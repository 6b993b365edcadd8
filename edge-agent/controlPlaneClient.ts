import { HavenError } from '../core/errors';
import { problemError } from '../core/problemError';
import type { GroupCut, PeerClock } from './groupCuts';
import type { FinalBookmarkRequest } from './finalBookmark';

export type IngestCredentials = import('../core/controlPlane/ingest').IngestCredentials;

export interface Enrollment {
  machineId: string;
  siteId?: string;
  credential: string;
  dataKey: { keyId: string; key: string };
  /** A replacement token: this agent took over an existing machine (and its earlier keys). */
  replaced?: { previousKeys: { keyId: string; key: string }[] };
}

/** GET machines/{id}/disks (machine credential). */
export interface CloudDisk {
  id: string;
  sizeBytes: number;
  logicalSectorSize: number;
  /** The generation to send (absent from older control planes: 1). */
  generation?: number;
  /** The cloud's watermark in that generation. */
  appliedSeq?: number;
  /** Every batch of that generation up to this seq is stored in Azure (older control planes: absent). */
  stagedSeq?: number;
  /** Seqs of that generation stored past `stagedSeq` (a gap before them). */
  stagedAhead?: number[];
  /** Re-enable after failback: this generation's replica starts as the disk with `digest`. */
  seed?: { generation: number; digest: string };
}

export interface RecoveryPointDisk {
  diskId: string;
  generation?: number;
  seq?: number;
  /** Digest tree (core/disk/digest.ts) of the disk at the point. */
  sha256?: string;
  digest?: string;
  sizeBytes?: number;
}
export interface RecoveryPoint {
  id: string;
  /** When the bookmark was cut (the cloud's `time`). */
  time?: string;
  createdAt?: string;
  consistency?: string;
  disks?: RecoveryPointDisk[];
  [k: string]: unknown;
}

/** Thin HTTP client of the control plane; maps problem+json answers to HavenError. */
export class ControlPlaneClient {
  constructor(
    readonly apiUrl: string,
    private readonly credential?: string,
  ) {}

  private url(p: string): string {
    // Accept both the host root and HAVEN_API_URL (which already ends in /api).
    const base = this.apiUrl.replace(/\/+$/, '').replace(/\/api$/, '');
    return `${base}/api/${p}`;
  }

  async request<T>(
    method: string,
    p: string,
    body?: unknown,
    timeoutMs = 30_000,
  ): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(this.url(p), {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new HavenError(
        'transient',
        `The control plane at ${this.apiUrl} is unreachable (${(e as Error).message}).`,
        undefined,
        { cause: e },
      );
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status >= 400)
      throw problemError(res.status, parsed, `${method} ${p} failed with HTTP ${res.status}.`);
    return { status: res.status, body: parsed as T };
  }

  async enroll(body: {
    token: string;
    hostname: string;
    os: string;
    agentVersion?: string;
    disks: unknown[];
  }): Promise<Enrollment> {
    const r = await this.request<Enrollment>('POST', 'enroll', body);
    const e = r.body;
    if (!e?.machineId || !e.credential || !e.dataKey?.key || !e.dataKey.keyId) {
      throw new HavenError(
        'internal',
        'The enrollment answer lacks machineId, credential or dataKey.',
      );
    }
    return e;
  }

  /** Registers a disk; the answer says its generation (a new size starts the next one). */
  async addDisk(
    machineId: string,
    disk: { id: string; sizeBytes: number; logicalSectorSize: number },
  ): Promise<CloudDisk> {
    return (
      await this.request<CloudDisk>('POST', `machines/${encodeURIComponent(machineId)}/disks`, disk)
    ).body;
  }

  /** The machine's disks as the control plane knows them (generation to send, cloud watermark). */
  async listDisks(machineId: string, timeoutMs = 10_000): Promise<CloudDisk[]> {
    const r = await this.request<{ items?: CloudDisk[] }>(
      'GET',
      `machines/${encodeURIComponent(machineId)}/disks`,
      undefined,
      timeoutMs,
    );
    return r.body?.items ?? [];
  }

  /** Asks for a resync of a disk (the agent lost its tracking state): the disk's new generation. */
  async requestResync(machineId: string, diskId: string, reason: string): Promise<CloudDisk> {
    const r = await this.request<{ disk: CloudDisk }>(
      'POST',
      `machines/${encodeURIComponent(machineId)}/disks/${encodeURIComponent(diskId)}/resync-request`,
      { reason },
    );
    return r.body.disk;
  }

  async ingestToken(machineId: string): Promise<IngestCredentials> {
    return (
      await this.request<IngestCredentials>(
        'POST',
        `machines/${encodeURIComponent(machineId)}/ingest-token`,
        {},
      )
    ).body;
  }

  /** Records the heartbeat; the answer says whether an admin asked for a new data key. */
  async heartbeat(machineId: string, body: unknown): Promise<{ rotateKey: boolean }> {
    const r = await this.request<{ rotateKey?: boolean }>(
      'POST',
      `machines/${encodeURIComponent(machineId)}/heartbeat`,
      body,
    );
    return { rotateKey: r.body?.rotateKey === true };
  }

  /** Takes a new data key (returned once): it becomes the machine's current key. */
  async takeDataKey(machineId: string): Promise<{ keyId: string; dataKey: string }> {
    return (
      await this.request<{ keyId: string; dataKey: string }>(
        'POST',
        `machines/${encodeURIComponent(machineId)}/data-key`,
        {},
      )
    ).body;
  }

  /** A planned failover's final bookmark, if the control plane wants one (null otherwise). */
  async finalBookmark(machineId: string): Promise<FinalBookmarkRequest | null> {
    // A control plane without recovery has no such route: nothing wanted.
    return whenFound(async () => {
      const r = await this.request<{ request?: FinalBookmarkRequest | null }>(
        'GET',
        `machines/${encodeURIComponent(machineId)}/final-bookmark`,
      );
      return r.body?.request ?? null;
    }, null);
  }

  /**
   * Consistency-group cuts this machine has yet to insert (oldest first), and the control
   * plane's clock as seen from here (its `now`, against the midpoint of the round trip).
   */
  async groupBookmarks(machineId: string): Promise<{ cuts: GroupCut[]; clock?: PeerClock }> {
    // A control plane without consistency groups has no such route: nothing to insert.
    return whenFound(
      async () => {
        const sent = Date.now();
        const r = await this.request<{ items?: GroupCut[]; now?: string }>(
          'GET',
          `machines/${encodeURIComponent(machineId)}/group-bookmarks`,
        );
        const received = Date.now();
        const now = r.body?.now ? Date.parse(r.body.now) : NaN;
        const clock = Number.isFinite(now)
          ? { offsetMs: now - (sent + received) / 2, uncertaintyMs: (received - sent) / 2 }
          : undefined;
        return { cuts: r.body?.items ?? [], clock };
      },
      { cuts: [] },
    );
  }

  /** undefined while the point does not exist yet (404). */
  async recoveryPoint(machineId: string, pointId: string): Promise<RecoveryPoint | undefined> {
    return whenFound(
      async () =>
        (
          await this.request<RecoveryPoint>(
            'GET',
            `machines/${encodeURIComponent(machineId)}/agent/recovery-points/${encodeURIComponent(pointId)}`,
          )
        ).body,
      undefined,
    );
  }

  /** Newest recovery point of the machine, if any (short timeout: used by `status`). */
  async latestPoint(machineId: string, timeoutMs = 3000): Promise<RecoveryPoint | undefined> {
    const r = await this.request<{ items?: RecoveryPoint[] }>(
      'GET',
      `machines/${encodeURIComponent(machineId)}/agent/recovery-points?limit=1`,
      undefined,
      timeoutMs,
    );
    return r.body?.items?.[0];
  }

  /**
   * A read URL of one disk of a point. A point that is durable but not materialized yet is
   * hydrated by the control plane first: it answers 503 while that takes longer than one
   * request, so this retries transient answers until `waitMs` is spent.
   */
  async readUrl(
    machineId: string,
    pointId: string,
    diskId: string,
    waitMs = 30 * 60_000,
  ): Promise<{ url: string; sizeBytes?: number; expiresAt?: string; sha256?: string }> {
    const until = Date.now() + waitMs;
    for (let delay = 1000; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        return (
          await this.request<{
            url: string;
            sizeBytes?: number;
            expiresAt?: string;
            sha256?: string;
          }>(
            'GET',
            `machines/${encodeURIComponent(machineId)}/agent/recovery-points/${encodeURIComponent(pointId)}/disks/${encodeURIComponent(diskId)}/read-url`,
          )
        ).body;
      } catch (e) {
        if (!(e instanceof HavenError) || !e.retryable || Date.now() + delay > until) throw e;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

/** The call's answer, or `absent` when the control plane answers 404. */
async function whenFound<T, A>(call: () => Promise<T>, absent: A): Promise<T | A> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof HavenError && e.kind === 'not-found') return absent;
    throw e;
  }
}
