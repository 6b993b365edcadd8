import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from '../setup/requireTool';

export interface ArmTls {
  /** PEM of the CA the clients trust (`HAVEN_ARM_CA_CERT`). */
  caCertPath: string;
  cert: Buffer;
  key: Buffer;
}

/**
 * The endpoint's certificate, issued by a CA of the stack's own, kept under `dir`. The ARM
 * clients refuse bearer tokens over plain HTTP, so the local endpoint speaks HTTPS like ARM,
 * and the clients trust this CA only (passed as `tlsOptions.ca`), never the system store.
 */
export function loadOrCreateTls(dir: string): ArmTls {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCertPath = join(dir, 'ca.pem');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key');
  if (!existsSync(caCertPath) || !existsSync(certPath) || !existsSync(keyPath)) {
    const openssl = requireTool('openssl', 'openssl', 'to make the local ARM endpoint certificate');
    const work = join(dir, `.work-${process.pid}`);
    mkdirSync(work, { recursive: true, mode: 0o700 });
    try {
      const run = (args: string[]) => execFileSync(openssl, args, { cwd: work, stdio: 'pipe' });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      run([
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '3650',
        '-subj',
        '/CN=Haven local ARM CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
      writeFileSync(
        join(work, 'san.ext'),
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
      );
      run([
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '825',
        '-out',
        'server.pem',
        '-extfile',
        'san.ext',
      ]);
      for (const f of ['server.key', 'server.pem', 'ca.pem'])
        renameSync(join(work, f), join(dir, f));
    } finally {
      rmSync(work, { recursive: true, force: true }); // the CA key goes: nothing else is ever signed
    }
  }
  return { caCertPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}
