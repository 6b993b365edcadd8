import {
  constants,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadOrCreateTls } from '../arm/tls';
import { LocalVaultKeys, type VaultKeyVersion } from './localVaultKeys';

/** The key the app wraps data keys with (the Bicep deployment's `haven-kek-wrap`). */
export const LOCAL_KEK_KEY_NAME = 'haven-kek-wrap';
const MAX_BODY = 64 * 1024;
const OAEP_256 = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;

export interface LocalKeyVaultOptions {
  /** Keys, token and TLS material live under `<stateDir>/keyvault/` (owner-only). */
  stateDir: string;
  port?: number;
  /** Keys made at start unless they exist (default: the KEK). */
  keyNames?: string[];
}

export interface LocalKeyVault {
  /** e.g. https://127.0.0.1:40123 (the vault URL the clients take). */
  url: string;
  token: string;
  caCertPath: string;
  /** A new current version of `name` (as `az keyvault key rotate`); returns it. */
  rotate(name: string): string;
  /** The next `times` authenticated requests answer `status` with a Key Vault error body. */
  failNext(status: number, times?: number, code?: string): void;
  stop(): Promise<void>;
}

class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A local stand-in for Azure Key Vault's key operations, just what the app's key wrapper uses:
 * `GET /keys/{name}[/{version}]`, `POST /keys/{name}/{version}/wrapkey|unwrapkey` (RSA-OAEP-256
 * with real RSA keys), over HTTPS with the stack's own CA and Key Vault's challenge-based auth
 * (an unauthenticated request gets a 401 naming the resource; the SDK then sends its token).
 */
export async function startLocalKeyVault(opts: LocalKeyVaultOptions): Promise<LocalKeyVault> {
  const dir = join(opts.stateDir, 'keyvault');
  const keys = new LocalVaultKeys(dir);
  for (const name of opts.keyNames ?? [LOCAL_KEK_KEY_NAME]) keys.ensure(name);
  const token = identity(dir);
  const tls = loadOrCreateTls(join(dir, 'tls'));
  const faults: { status: number; code: string }[] = [];
  let url = '';
  const handle = vaultHandler(keys, token, () => url, faults);
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((e: unknown) => reply(res, 500, error('InternalError', String(e))));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    caCertPath: tls.caCertPath,
    rotate: (name) => keys.rotate(name).version,
    failNext(status, times = 1, code = status === 429 ? 'Throttled' : 'Forbidden') {
      for (let i = 0; i < times; i++) faults.push({ status, code });
    },
    async stop() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The bearer token the vault accepts, kept so a restarted stack's app settings stay valid. */
function identity(dir: string): string {
  const file = join(dir, 'token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, token, { mode: 0o600 });
  return token;
}

function vaultHandler(
  keys: LocalVaultKeys,
  token: string,
  baseUrl: () => string,
  faults: { status: number; code: string }[],
) {
  const expected = Buffer.from(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', baseUrl());
    try {
      const body = await readBody(req);
      const auth = Buffer.from(req.headers.authorization ?? '');
      if (!req.headers.authorization) {
        // Key Vault's challenge: where to get a token and for which resource.
        res.setHeader(
          'www-authenticate',
          'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"',
        );
        throw new VaultError(
          401,
          'Unauthorized',
          'AKV10000: Request is missing a Bearer or PoP token.',
        );
      }
      if (auth.length !== expected.length || !timingSafeEqual(auth, expected))
        throw new VaultError(401, 'Unauthorized', 'AKV10032: Invalid issuer or token.');
      const fault = faults.shift();
      if (fault) throw new VaultError(fault.status, fault.code, 'Injected failure.');
      if (!url.searchParams.get('api-version'))
        throw new VaultError(400, 'BadParameter', 'The request URI is missing api-version.');
      const rotate = /^\/haven\/admin\/keys\/([\w-]+)\/rotate$/.exec(url.pathname);
      if (rotate && req.method === 'POST') {
        const v = keys.rotate(rotate[1]!);
        return reply(res, 200, bundle(baseUrl(), rotate[1]!, v));
      }
      const m =
        /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]*))?(?:\/(wrapkey|unwrapkey))?\/?$/.exec(
          url.pathname,
        );
      if (!m) throw new VaultError(404, 'NotFound', `No route ${req.method} ${url.pathname}.`);
      const [, name, version, op] = m as unknown as [string, string, string | undefined, string?];
      const key = version ? keys.get(name, version) : keys.current(name);
      if (!key)
        throw new VaultError(
          404,
          'KeyNotFound',
          `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
        );
      if (!op && req.method === 'GET') return reply(res, 200, bundle(baseUrl(), name, key));
      if (!op || req.method !== 'POST')
        throw new VaultError(405, 'MethodNotAllowed', `${req.method} is not allowed here.`);
      const p = parseOperation(body);
      const kid = `${baseUrl()}/keys/${name}/${key.version}`;
      let out: Buffer;
      try {
        out =
          op === 'wrapkey'
            ? publicEncrypt({ key: createPublicKey(key.privateKey), ...OAEP_256 }, p.value)
            : privateDecrypt({ key: key.privateKey, ...OAEP_256 }, p.value);
      } catch {
        throw new VaultError(400, 'BadParameter', 'The parameter is incorrect.');
      }
      return reply(res, 200, { kid, value: out.toString('base64url') });
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      reply(res, e.status, error(e.code, e.message));
    }
  };
}

function parseOperation(body: Buffer): { value: Buffer } {
  let p: { alg?: unknown; value?: unknown };
  try {
    p = JSON.parse(body.toString('utf8')) as typeof p;
  } catch {
    throw new VaultError(400, 'BadParameter', 'The request body is not valid JSON.');
  }
  if (p.alg !== 'RSA-OAEP-256')
    throw new VaultError(400, 'BadParameter', `Algorithm '${String(p.alg)}' is not served here.`);
  if (typeof p.value !== 'string')
    throw new VaultError(400, 'BadParameter', "Property 'value' is required.");
  return { value: Buffer.from(p.value, 'base64url') };
}

/** Key Vault's KeyBundle: the public half only, as a vault never returns a private key. */
function bundle(base: string, name: string, v: VaultKeyVersion) {
  const jwk = createPublicKey(v.privateKey).export({ format: 'jwk' });
  return {
    key: {
      kid: `${base}/keys/${name}/${v.version}`,
      kty: 'RSA',
      key_ops: ['wrapKey', 'unwrapKey'],
      n: jwk.n,
      e: jwk.e,
    },
    attributes: {
      enabled: true,
      created: v.created,
      updated: v.created,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    },
  };
}

const error = (code: string, message: string) => ({ error: { code, message } });

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new VaultError(413, 'RequestTooLarge', 'The body is too large.');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'x-ms-request-id': randomBytes(8).toString('hex'),
  });
  res.end(text);
}
