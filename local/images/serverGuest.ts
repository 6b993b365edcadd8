/**
 * The programs of a bootable server disk (see bootableServer.ts), all busybox sh: its init, its
 * DHCP hook, its power-button handler and its web service. Markers go to the serial console
 * (the VM's boot diagnostics), where tests and the ARM endpoint look for them.
 */
export const SERVER_BOOTED_MARKER = 'HAVEN-GUEST: booted';
export const SERVER_READY_MARKER = 'HAVEN-GUEST: httpd up';
export const SERVER_POWEROFF_MARKER = 'HAVEN-GUEST: clean poweroff';
export const SERVER_HTTP_PORT = 80;

/**
 * PID 1. acpid turns the ACPI power button (a graceful stop) into a clean shutdown; the web
 * service is `nc -ll`, which forks the handler below once per connection.
 */
export const serverInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
hostname "$(cat /etc/hostname)"
echo "${SERVER_BOOTED_MARKER} $(hostname)"
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 10 -T 1 -s /etc/udhcpc.sh >/dev/null 2>&1 || echo "HAVEN-GUEST: no DHCP lease"
echo "HAVEN-GUEST: eth0 $(ip -4 -o addr show eth0 | awk '{print $4}')"
acpid -c /etc/acpi -l /tmp/acpid.log
nc -ll -p ${SERVER_HTTP_PORT} -e /srv/http.sh &
echo "${SERVER_READY_MARKER}"
while true; do sleep 60; done
`;

/** busybox udhcpc calls this with the lease in its environment (as a cloud VM's DHCP client would). */
export const udhcpcScript = `#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/\${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
`;

/**
 * The power button (busybox acpid runs /etc/acpi/PWRF/00000080): stop every process, make the
 * root filesystem read-only (the journal is flushed and the filesystem marked clean), power off.
 * Nothing may hold a file of the root open for writing then, so acpid logs to /tmp and this
 * script's output (acpid hands it its log) goes to the console.
 */
export const powerButtonScript = `#!/bin/sh
exec >/dev/console 2>&1
echo "HAVEN-GUEST: power button"
kill -TERM -1
for i in $(seq 1 50); do mount -o remount,ro / 2>/dev/null && break; sleep 0.1; done
sync
grep -q ' / ext4 ro' /proc/mounts && echo "${SERVER_POWEROFF_MARKER}"
poweroff -f
`;

/**
 * The web service: one HTTP exchange per run on stdin/stdout. Written in sh rather than served
 * by busybox httpd because httpd runs programs only under /cgi-bin/, and the routes are:
 * GET /health, GET /hostname, GET /info (hostname and eth0's IPv4), GET /data/<name> (the file
 * /srv/data/<name>), POST /write/<name> (the body becomes /srv/data/<name>, synced; answers its
 * sha256). /cgi-bin/info and POST /cgi-bin/write?<name> are kept for disks made earlier.
 */
export const httpHandler = `#!/bin/sh
DATA=/srv/data
cr=$(printf '\\r')
read -r method target proto || exit 0
len=0
expect=""
while read -r line; do
  line=\${line%"$cr"}
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) len=$(echo \${line#*:}) ;;
    [Ee]xpect:*100-continue*) expect=1 ;;
  esac
done
case "$len" in ''|*[!0-9]*) len=0 ;; esac
send() {
  printf 'HTTP/1.1 %s\\r\\nContent-Type: %s\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n' \\
    "$1" "$2" "$(wc -c < "$3")"
  [ "$method" = HEAD ] || cat "$3"
}
text() {
  t=$(mktemp)
  printf '%s\\n' "$2" > "$t"
  send "$1" text/plain "$t"
  rm -f "$t"
}
valid() { case "$1" in ''|.*|*[!A-Za-z0-9._-]*) return 1 ;; esac; }
info() {
  echo "hostname=$(hostname)"
  echo "ip=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
}
write() {
  valid "$1" || { head -c "$len" >/dev/null; text '400 Bad Request' 'bad name'; return; }
  [ -n "$expect" ] && printf 'HTTP/1.1 100 Continue\\r\\n\\r\\n'
  head -c "$len" > "$DATA/.$1.tmp" && mv "$DATA/.$1.tmp" "$DATA/$1" && sync
  text '200 OK' "$(sha256sum "$DATA/$1" | cut -d' ' -f1)"
}
path=\${target%%\\?*}
query=\${target#"$path"}
query=\${query#\\?}
case "$method $path" in
  'GET /health'|'HEAD /health') text '200 OK' ok ;;
  'GET /hostname') text '200 OK' "$(hostname)" ;;
  'GET /info'|'GET /cgi-bin/info') text '200 OK' "$(info)" ;;
  'GET /data/'*|'HEAD /data/'*)
    name=\${path#/data/}
    if valid "$name" && [ -f "$DATA/$name" ]; then send '200 OK' application/octet-stream "$DATA/$name"
    else text '404 Not Found' 'no such file'; fi ;;
  'POST /write/'*) write "\${path#/write/}" ;;
  'POST /cgi-bin/write') write "$query" ;;
  *) head -c "$len" >/dev/null; text '404 Not Found' 'not found' ;;
esac
`;
