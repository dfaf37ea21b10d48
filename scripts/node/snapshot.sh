#!/bin/bash
# Node side of `dpdkci snapshot save` and of a restore (`dpdkci up --from-snapshot`).
#   snapshot.sh prepare       before the node is paused and saved: sync, and say what memory is in use
#   snapshot.sh reseed        on a node restored from a snapshot: set the clock to the host's time, read
#                             from stdin once this prints "ready" (so that the time does not age while a
#                             process starts), then take this cluster's seed (host key, authorized keys,
#                             registry port) from the new QEMU's fw_cfg
#   snapshot.sh clock         on a node that was paused by a save: the clock from stdin, the same way
set -euo pipefail

prepare() {
  # QEMU flushes the disk when it pauses the node; this only makes the file systems clean in the copy.
  sync
  # What the saved state will carry: QEMU sends a page that was never written (or that the kernel zeroed:
  # free hugepages, say) as a flag, so the state is about what processes and the kernel hold.
  grep -E '^(MemFree|AnonPages|Cached|HugePages_Total|HugePages_Free):' /proc/meminfo | tr -s ' ' | tr '\n' ';'
  echo
}

# A paused guest's clock stood still: it is behind by the pause, or by however long a snapshot was kept.
set_clock() {
  local epoch
  echo ready
  read -r epoch
  if [[ ! $epoch =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "snapshot.sh: \"$epoch\" is not a time in seconds since 1970" >&2
    exit 2
  fi
  date -u -s "@$epoch" >/dev/null
}

reseed() {
  set_clock
  # The kernel read fw_cfg's directory (names and sizes) when the module loaded, from the QEMU that
  # booted the node; loading it again reads the new QEMU's.
  if [ -d /sys/module/qemu_fw_cfg ]; then
    rmmod qemu_fw_cfg
  fi
  modprobe qemu_fw_cfg
  /usr/local/sbin/dpdkci-seed
  date -u +%s.%N
}

case "${1:-}" in
  prepare) prepare ;;
  reseed) reseed ;;
  clock)
    set_clock
    date -u +%s.%N
    ;;
  *)
    echo "usage: snapshot.sh prepare | reseed | clock" >&2
    exit 2
    ;;
esac
