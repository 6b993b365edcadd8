import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mkfsExt4FromDir, writeMixedContent } from './ext4';
import { requireTool } from '../setup/requireTool';
import { isStaticElf } from '../vm/staticElf';

/**
 * A small server whose disk boots (locally under QEMU with the platform kernel, as a recovered
 * Azure VM would): a whole-disk ext4 holding a static busybox, its own `/sbin/init` and a web
 * service that serves the server's data. Because the service reads whatever is on the disk, a
 * disk recovered from a point serves the data of that point, and a write made in the recovered
 * VM lands on its managed disk: tests and the demo check recovery through HTTP.
 *
 * The service (busybox httpd on port 80):
 * - `GET /health` → 200 `ok`
 * - `GET /data/<name>` → the file `/srv/data/<name>`
 * - `POST /cgi-bin/write?<name>` → writes the body to `/srv/data/<name>`, syncs, answers its sha256
 * - `GET /cgi-bin/info` → `hostname=…` and `ip=…` (eth0's IPv4 from the subnet's DHCP)
 */
export const SERVER_BOOTED_MARKER = 'HAVEN-GUEST: booted';
export const SERVER_READY_MARKER = 'HAVEN-GUEST: httpd up';
export const SERVER_HTTP_PORT = 80;

export interface BootableServerOptions {
  sizeBytes: number;
  hostname: string;
  /** Files of the server's data, served at /data/<name>. */
  files?: Record<string, Buffer | string>;
  /** Share of the disk to fill with mixed content (makes replication non-trivial). */
  fill?: number;
}

const init = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
hostname "$(cat /etc/hostname)"
echo "${SERVER_BOOTED_MARKER} $(hostname)"
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 10 -T 1 -s /etc/udhcpc.sh || echo "HAVEN-GUEST: no DHCP lease"
echo "HAVEN-GUEST: eth0 $(ip -4 -o addr show eth0 | awk '{print $4}')"
httpd -p ${SERVER_HTTP_PORT} -h /srv/www
echo "${SERVER_READY_MARKER}"
while true; do sleep 3600; done
`;

/** busybox udhcpc calls this with the lease in its environment (as a cloud VM's DHCP client would). */
const udhcpcScript = `#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/\${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
`;

const writeCgi = `#!/bin/sh
name="$QUERY_STRING"
case "$name" in
  ''|*[!A-Za-z0-9._-]*) printf 'Status: 400 Bad Request\\r\\nContent-Type: text/plain\\r\\n\\r\\nbad name\\n'; exit 0 ;;
esac
[ "$REQUEST_METHOD" = POST ] || { printf 'Status: 405 Method Not Allowed\\r\\n\\r\\n'; exit 0; }
head -c "\${CONTENT_LENGTH:-0}" > "/srv/data/$name.tmp" && mv "/srv/data/$name.tmp" "/srv/data/$name" && sync
printf 'Content-Type: text/plain\\r\\n\\r\\n'
sha256sum "/srv/data/$name" | cut -d' ' -f1
`;

const infoCgi = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "hostname=$(hostname)"
echo "ip=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
`;

function put(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

export function makeBootableServerImage(path: string, opts: BootableServerOptions): void {
  const busybox = requireTool('busybox', 'busybox-static', 'to build a bootable server disk');
  if (!isStaticElf(busybox)) {
    throw new Error(
      `${busybox} is dynamically linked; a bootable server disk needs busybox-static.`,
    );
  }
  if (opts.sizeBytes < 16 * 1024 * 1024)
    throw new Error('A bootable server disk needs at least 16 MiB.');
  const root = mkdtempSync(join(tmpdir(), 'haven-boot-'));
  try {
    for (const d of [
      'proc',
      'sys',
      'dev',
      'tmp',
      'run',
      'var/log',
      'srv/data',
      'srv/www/cgi-bin',
    ]) {
      mkdirSync(join(root, d), { recursive: true });
    }
    put(root, 'bin/busybox', readFileSync(busybox), 0o755);
    put(root, 'sbin/init', init, 0o755);
    put(root, 'etc/hostname', `${opts.hostname}\n`);
    put(root, 'etc/udhcpc.sh', udhcpcScript, 0o755);
    put(root, 'srv/www/health', 'ok\n');
    put(root, 'srv/www/cgi-bin/write', writeCgi, 0o755);
    put(root, 'srv/www/cgi-bin/info', infoCgi, 0o755);
    symlinkSync('/srv/data', join(root, 'srv/www/data'));
    const fill = opts.fill ?? 0;
    if (fill > 0) writeMixedContent(join(root, 'srv/fill'), Math.floor(opts.sizeBytes * fill));
    for (const [name, body] of Object.entries(opts.files ?? {}))
      put(root, `srv/data/${name}`, body);
    mkfsExt4FromDir(path, opts.sizeBytes, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
