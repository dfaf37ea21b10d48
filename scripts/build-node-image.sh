#!/bin/bash
# Host-side: builds the dpdkci node image from the recipe in images/node.
# Called by `dpdkci provision`; prints "@@ step <name>" before each phase so the CLI can show progress.
#
# usage: build-node-image.sh RECIPE_DIR IMAGE_SCRIPTS_DIR SUITE MIRROR OUT_DIR DISK_SIZE
#   RECIPE_DIR        images/node (packages.txt, units.txt, files/)
#   IMAGE_SCRIPTS_DIR scripts/image (installed as /usr/local/sbin/<name without .sh>)
#   OUT_DIR           receives disk.qcow2, vmlinuz, initrd.img, packages.lock (must not exist); dpdkci then
#                     adds vmlinux, the kernel unpacked for PVH boot (src/image/pvh-kernel.ts)
set -euo pipefail

if [ "$#" -ne 6 ]; then
  echo "usage: $0 RECIPE_DIR IMAGE_SCRIPTS_DIR SUITE MIRROR OUT_DIR DISK_SIZE" >&2
  exit 2
fi
recipe=$(realpath "$1")
image_scripts=$(realpath "$2")
suite=$3
mirror=$4
out=$5
disk_size=$6

if [ "$(id -u)" -ne 0 ]; then
  echo "build-node-image: debootstrap and chroot need root; run as root" >&2
  exit 2
fi

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/dpdkci-image.XXXXXX")
rootfs=$work/rootfs

cleanup() {
  local m
  for m in dev/pts dev sys proc; do
    if mountpoint -q "$rootfs/$m" 2>/dev/null; then
      umount -l "$rootfs/$m"
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '@@ step %s\n' "$1"; }

# Lines of a recipe list without comments and blank lines.
list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }

in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

step debootstrap
debootstrap --variant=minbase --merged-usr "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

step configure
mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90-dpdkci-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
cp -a "$recipe/files/." "$rootfs/"
for script in "$image_scripts"/*.sh; do
  install -m 0755 "$script" "$rootfs/usr/local/sbin/$(basename "$script" .sh)"
done

step packages
mapfile -t packages < <(list "$recipe/packages.txt")
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; exit 1; }
in_root apt-get install -y -q --no-install-recommends "${packages[@]}" >>"$work/apt.log" 2>&1 || {
  tail -n 40 "$work/apt.log" >&2
  exit 1
}
# shellcheck disable=SC2016 # dpkg-query's own format fields
in_root dpkg-query -W -f '${Package}=${Version}\n' >"$out/packages.lock"

step units
while read -r action unit; do
  if [ "$action" = mask-generator ]; then
    # systemd.generator(7): a link to /dev/null of the same name in /etc masks a generator.
    if [ ! -e "$rootfs/usr/lib/systemd/system-generators/$unit" ]; then
      echo "build-node-image: no generator $unit to mask (units.txt)" >&2
      exit 1
    fi
    mkdir -p "$rootfs/etc/systemd/system-generators"
    ln -sf /dev/null "$rootfs/etc/systemd/system-generators/$unit"
    continue
  fi
  in_root systemctl "$action" "$unit" >/dev/null 2>&1 || {
    echo "build-node-image: systemctl $action $unit failed (units.txt)" >&2
    exit 1
  }
done < <(list "$recipe/units.txt")

step cleanup
# Every node gets its own identity at boot: no shared SSH host keys, no shared machine-id.
rm -f "$rootfs"/etc/ssh/ssh_host_*
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
rm -f "$rootfs/usr/sbin/policy-rc.d"
in_root apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/tmp/*
for m in dev/pts dev sys proc; do umount "$rootfs/$m"; done

step kernel
kernel=$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$rootfs/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
  echo "build-node-image: no kernel or initrd under $rootfs/boot" >&2
  exit 1
fi
cp "$kernel" "$out/vmlinuz"
cp "$initrd" "$out/initrd.img"
basename "$kernel" | sed 's/^vmlinuz-//' >"$out/kernel.release"

step disk
truncate -s "$disk_size" "$work/disk.raw"
mkfs.ext4 -q -L dpdkci-root -d "$rootfs" "$work/disk.raw"
qemu-img convert -O qcow2 "$work/disk.raw" "$out/disk.qcow2"
step finished
