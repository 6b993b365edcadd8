/**
 * The platform initramfs's `/init` (busybox sh). It does what the Azure platform and a distro's
 * initramfs do before a recovered disk's own init runs: loads the virtio drivers, finds the
 * root filesystem on the OS disk (a whole-disk ext4, or the first ext4 partition of an MBR/GPT
 * disk) and hands over to the disk's `/sbin/init`. Failures print a marker line on the serial
 * console (the VM's boot diagnostics) and power off, so the ARM side can report them.
 *
 * Modules are loaded in a loop because their dependencies have an order that busybox insmod
 * does not resolve (virtio_pci needs virtio and virtio_ring first, virtio_net needs failover).
 */
export const INITRAMFS_FAILED_MARKER = 'HAVEN-INITRAMFS: boot failed:';
export const INITRAMFS_HANDOVER_MARKER = 'HAVEN-INITRAMFS: switching to';

export const initramfsInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "${INITRAMFS_FAILED_MARKER} $1"; sync; poweroff -f; }
for pass in 1 2 3 4 5; do
  for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
done
for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.05; done
[ -b /dev/vda ] || fail "no OS disk (/dev/vda)"
root=""
for dev in /dev/vda /dev/vda1 /dev/vda2 /dev/vda3 /dev/vda4 /dev/vda5 /dev/vda6 /dev/vda7 /dev/vda8; do
  [ -b "$dev" ] || continue
  if mount -t ext4 "$dev" /newroot 2>/dev/null; then
    if [ -x /newroot/sbin/init ]; then root="$dev"; break; fi
    umount /newroot
  fi
done
[ -n "$root" ] || fail "no ext4 filesystem with /sbin/init on the OS disk"
echo "${INITRAMFS_HANDOVER_MARKER} $root"
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/init
`;
