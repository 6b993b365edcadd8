import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { DIGEST_BLOCK, blockDigest, treeDigest } from '../../../core/disk/digest';
import { replayDisk } from './replay';
import type { GroupCut } from '../../../edge-agent/groupCuts';

/**
 * Stand-in for the control plane (and, through the capture directory, for ingest + hydrate):
 * enrollment, disks, recovery points built by replaying what the agent's CaptureSink wrote,
 * and a read URL serving the point's image with a VHD footer (Range requests), like a SAS.
 */
export class FakeControlPlane {
  readonly token = `hvt.t1.${randomBytes(32).toString('base64url').slice(0, 43)}`;
  readonly machineId = 'm-fake1';
  readonly credential = `hvm.m-fake1.${randomBytes(32).toString('base64url').slice(0, 43)}`;
  readonly dataKey = randomBytes(32);
  readonly keyId = 'k-1';
  readonly disks = new Map<string, { id: string; sizeBytes: number; logicalSectorSize: number }>();
  readonly requests: string[] = [];
  /** Consistency-group cuts served to the agent, and how far this clock runs ahead of ours. */
  groupCuts: GroupCut[] = [];
  clockAheadMs = 0;
  /** This many group-bookmark polls answer 400 ms late (a busy host: a loose clock sample). */
  slowGroupPolls = 0;
  /** Reply 404 this many times per point before answering (the hydrator lags). */
  pointLag = 1;
  private polls = new Map<string, number>();
  /** `${point}/${disk}` → the replica blob of that point (disk bytes, padding, VHD footer). */
  private images = new Map<string, Buffer>();
  /** Points found so far: a point never changes once its stream reaches it (no replay again). */
  private points = new Map<
    string,
    NonNullable<Awaited<ReturnType<FakeControlPlane['replayPoint']>>>
  >();
  private server?: Server;
  url = '';

  constructor(readonly captureDir: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((e) =>
        this.send(res, 500, {
          type: 'https://haven.dev/problems/internal',
          title: String(e),
          status: 500,
        }),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
    });
    res.end(JSON.stringify(body));
  }

  private problem(res: ServerResponse, status: number, kind: string, detail: string) {
    this.send(res, status, {
      type: `https://haven.dev/problems/${kind}`,
      title: kind,
      status,
      detail,
    });
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length
      ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>)
      : {};
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url!, this.url);
    this.requests.push(`${req.method} ${u.pathname}`);
    if (req.method === 'POST' && u.pathname === '/api/enroll') {
      const b = await this.body(req);
      if (
        b.token !== this.token ||
        typeof b.hostname !== 'string' ||
        typeof b.os !== 'string' ||
        !Array.isArray(b.disks)
      ) {
        return this.problem(
          res,
          401,
          'unauthenticated',
          'The enrollment token is invalid, expired or already used.',
        );
      }
      return this.send(res, 201, {
        machineId: this.machineId,
        siteId: 's1',
        credential: this.credential,
        dataKey: { keyId: this.keyId, key: this.dataKey.toString('base64') },
      });
    }
    if (u.pathname.startsWith('/blob/')) return this.serveBlob(req, res, u);
    const m = /^\/api\/machines\/([^/]+)\/(.*)$/.exec(u.pathname);
    if (!m) return this.problem(res, 404, 'not-found', 'No such route.');
    if (m[1] !== this.machineId || req.headers.authorization !== `Bearer ${this.credential}`) {
      return this.problem(res, 401, 'unauthenticated', 'Missing or invalid credentials.');
    }
    const rest = m[2]!;
    if (req.method === 'POST' && rest === 'disks') {
      const b = (await this.body(req)) as {
        id: string;
        sizeBytes: number;
        logicalSectorSize: number;
      };
      const created = !this.disks.has(b.id);
      this.disks.set(b.id, b);
      return this.send(res, created ? 201 : 200, b);
    }
    if (req.method === 'POST' && rest === 'heartbeat')
      return this.send(res, 200, { receivedAt: new Date().toISOString() });
    if (req.method === 'GET' && rest === 'group-bookmarks') {
      if (this.slowGroupPolls > 0) {
        this.slowGroupPolls--;
        await new Promise((r) => setTimeout(r, 400));
      }
      return this.send(res, 200, {
        items: this.groupCuts,
        now: new Date(Date.now() + this.clockAheadMs).toISOString(),
      });
    }
    if (req.method === 'GET' && rest === 'agent/recovery-points') {
      const first = [...this.disks.values()][0];
      const bms = first
        ? (await replayDisk(this.captureDir, first.id, first.sizeBytes, this.dataKey)).bookmarks
        : [];
      const last = bms.at(-1);
      const p = last ? await this.point(last.id) : undefined;
      return this.send(res, 200, { items: p ? [p] : [] });
    }
    const rp = /^agent\/recovery-points\/([^/]+)(?:\/disks\/([^/]+)\/read-url)?$/.exec(rest);
    if (req.method === 'GET' && rp) {
      const pid = decodeURIComponent(rp[1]!);
      const n = (this.polls.get(pid) ?? 0) + 1;
      this.polls.set(pid, n);
      if (!rp[2] && n <= this.pointLag)
        return this.problem(res, 404, 'not-found', `Recovery point '${pid}' does not exist.`);
      const point = await this.point(pid);
      if (!point)
        return this.problem(res, 404, 'not-found', `Recovery point '${pid}' does not exist.`);
      if (!rp[2]) return this.send(res, 200, point);
      const diskId = decodeURIComponent(rp[2]);
      return this.send(res, 200, {
        url: `${this.url}/blob/${encodeURIComponent(pid)}/${encodeURIComponent(diskId)}?sig=fake`,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      });
    }
    return this.problem(res, 404, 'not-found', 'No such route.');
  }

  /** A point exists when every disk's captured stream reaches the bookmark. */
  async point(pid: string) {
    const known = this.points.get(pid);
    if (known) return known;
    const p = await this.replayPoint(pid);
    if (p) this.points.set(pid, p);
    return p;
  }

  private async replayPoint(pid: string) {
    const disks = [];
    for (const d of this.disks.values()) {
      const r = await replayDisk(this.captureDir, d.id, d.sizeBytes, this.dataKey, pid);
      if (r.conflicts.length) throw new Error(`conflicting batches: ${r.conflicts.join(', ')}`);
      const bm = r.bookmarks.find((b) => b.id === pid);
      if (!bm) return undefined;
      // Replica layout: disk bytes, rounded up to 1 MiB, then a 512-byte VHD footer.
      const rounded = Math.ceil(r.image.length / 2 ** 20) * 2 ** 20;
      this.images.set(
        `${pid}/${d.id}`,
        Buffer.concat([
          r.image,
          Buffer.alloc(rounded - r.image.length),
          Buffer.from('conectix'.padEnd(512, '\xff')),
        ]),
      );
      const digests = [];
      for (let o = 0; o < d.sizeBytes; o += DIGEST_BLOCK)
        digests.push(blockDigest(r.image.subarray(o, Math.min(o + DIGEST_BLOCK, d.sizeBytes))));
      disks.push({
        diskId: d.id,
        generation: 1,
        seq: bm.seq,
        sizeBytes: d.sizeBytes,
        sha256: treeDigest(digests, d.sizeBytes),
      });
    }
    return {
      id: pid,
      machineId: this.machineId,
      consistency: 'crash',
      time: new Date().toISOString(),
      generation: 1,
      disks,
    };
  }

  private serveBlob(req: IncomingMessage, res: ServerResponse, u: URL) {
    const [, , pid, diskId] = u.pathname.split('/').map(decodeURIComponent);
    const blob = this.images.get(`${pid}/${diskId}`);
    if (!blob || u.searchParams.get('sig') !== 'fake')
      return this.problem(res, 403, 'forbidden', 'Bad SAS.');
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!range) {
      res.writeHead(200, { 'content-length': blob.length });
      res.end(req.method === 'HEAD' ? undefined : blob);
      return;
    }
    const s = Number(range[1]);
    const e = Math.min(Number(range[2]), blob.length - 1);
    res.writeHead(206, {
      'content-length': e - s + 1,
      'content-range': `bytes ${s}-${e}/${blob.length}`,
    });
    res.end(blob.subarray(s, e + 1));
  }
}
