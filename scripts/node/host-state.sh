#!/bin/bash
# On a machine dpdkci did not boot (provider hosts): records what the host had before dpdkci changed it, and
# undoes exactly that on `dpdkci down`. The record is /var/lib/dpdkci/host-state (key=value, 0600).
#
#   host-state.sh check|apply record PREFIX PCI SOCKET_DIR BRIDGE
#   host-state.sh check|apply packages PKG...      (apt-get from the host's own sources; recorded)
#   host-state.sh check|apply hugepages WANT_2M WANT_1G
#   host-state.sh undo PREFIX PURGE_PACKAGES(0|1)  (prints "restored <what>" and "kept <what>" lines)
#
# check exits 0 when there is nothing to do and 3 (printing "pending <what>") when apply has work.
set -euo pipefail

mode=${1:?usage: host-state.sh check|apply|undo PART ARGS...}
shift
dir=/var/lib/dpdkci
state=$dir/host-state
scripts=/usr/local/lib/dpdkci

die() {
  printf 'host-state: %s\n' "$*" >&2
  exit 1
}

want() {
  if [ "$mode" = check ]; then
    printf 'pending %s\n' "$*"
    exit 3
  fi
  printf 'changed %s\n' "$*"
}

# The value recorded for KEY (no sourcing: the file is data).
get() {
  [ -r "$state" ] || return 0
  awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$state"
}

put() {
  printf '%s=%s\n' "$1" "$2" >>"$state"
}

is_on() { if "$@" >/dev/null 2>&1; then echo 1; else echo 0; fi; }

OVS_KEYS=(dpdk-init dpdk-socket-mem dpdk-socket-limit dpdk-lcore-mask dpdk-extra pmd-cpu-mask pmd-maxsleep)
HP=/sys/kernel/mm/hugepages
NOIOMMU=/sys/module/vfio/parameters/enable_unsafe_noiommu_mode

part_record() {
  local prefix=$1 pci=$2 socket_dir=$3 bridge=$4 key value driver=''
  if [ -r "$state" ]; then
    [ "$(get prefix)" = "$prefix" ] || die "this host is a node of cluster \"$(get prefix)\"; dpdkci down --prefix $(get prefix) first"
    return 0
  fi
  want "record of what this host had before dpdkci ($state)"
  install -d -m 0700 "$dir"
  umask 077
  : >"$state.partial"
  state=$state.partial
  put prefix "$prefix"
  put recorded_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  put bridge "$bridge"
  put nic_pci "$pci"
  [ -e "/sys/bus/pci/devices/$pci/driver" ] && driver=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
  put nic_driver "$driver"
  put socket_dir "$socket_dir"
  put socket_dir_existed "$(is_on test -e "$socket_dir")"
  put group_hugetlbfs_existed "$(is_on getent group hugetlbfs)"
  put scripts_existed "$(is_on test -e "$scripts")"
  put hp2m "$(cat $HP/hugepages-2048kB/nr_hugepages)"
  put hp1g "$(cat $HP/hugepages-1048576kB/nr_hugepages 2>/dev/null || echo 0)"
  put hp1g_mounted "$(is_on mountpoint -q /dev/hugepages1G)"
  put hp1g_dir_existed "$(is_on test -d /dev/hugepages1G)"
  put hp2m_mounted "$(is_on mountpoint -q /dev/hugepages)"
  put hp2m_dir_existed "$(is_on test -d /dev/hugepages)"
  put vfio_noiommu "$(cat "$NOIOMMU" 2>/dev/null || echo N)"
  put ovs_installed "$(is_on command -v ovs-vsctl)"
  if command -v ovs-vsctl >/dev/null; then
    put ovs_alternative "$(readlink -f /etc/alternatives/ovs-vswitchd 2>/dev/null || true)"
    put ovs_enabled "$(is_on systemctl is-enabled --quiet openvswitch-switch)"
    put ovs_active "$(is_on systemctl is-active --quiet ovs-vswitchd)"
    put ovsdb_active "$(is_on systemctl is-active --quiet ovsdb-server)"
    local key value db
    if systemctl is-active --quiet ovsdb-server; then
      for key in "${OVS_KEYS[@]}"; do
        if value=$(ovs-vsctl --if-exists get Open_vSwitch . "other_config:$key" 2>/dev/null) && [ -n "$value" ]; then
          put "ovs_other_config:$key" "$value"
        fi
      done
    elif [ -s /etc/openvswitch/conf.db ]; then
      # A database OVS is not serving may hold settings too: read the file, without starting a server
      # (whose start-up would write its own columns into it). Values come out quoted, as ovs-vsctl prints them.
      db=$(ovsdb-tool query /etc/openvswitch/conf.db '["Open_vSwitch",{"op":"select","table":"Open_vSwitch","where":[],"columns":["other_config"]}]')
      for key in "${OVS_KEYS[@]}"; do
        value=$(grep -o "\[\"$key\",\"[^\"]*\"\]" <<<"$db" | sed 's/^\["[^"]*",\(".*"\)\]$/\1/' || true)
        if [ -n "$value" ]; then put "ovs_other_config:$key" "$value"; fi
      done
    fi
  fi
  mv "$state" "${state%.partial}"
}

part_packages() {
  local pkg missing=()
  [ -r "$state" ] || die "no record of this host's state yet (the record step comes first)"
  for pkg in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ] || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  want "packages installed: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed: check the host's apt sources"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  put packages_installed "${missing[*]}"
}

# reserve SIZE_DIR WANT LABEL ARGS: hugepages at run time, or the kernel arguments that would give them.
reserve() {
  local sysdir=$HP/$1 want=$2 label=$3 args=$4 got
  got=$(cat "$sysdir/nr_hugepages" 2>/dev/null || echo 0)
  [ "$got" -ge "$want" ] && return 0
  [ -d "$sysdir" ] || die "this kernel offers no $label hugepages; add '$args' to the kernel command line and reboot"
  want "$label hugepages reserved at run time: $want (were $got)"
  echo "$want" >"$sysdir/nr_hugepages"
  got=$(cat "$sysdir/nr_hugepages")
  if [ "$got" -lt "$want" ]; then
    die "only $got of $want $label hugepages could be reserved at run time (too little free or contiguous memory); add '$args' to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot"
  fi
}

part_hugepages() {
  local want2=$1 want1=$2 args
  # The same arguments as check hosts names (providers/hosts/facts.ts kernelHugepageArgs): 1G first.
  args="default_hugepagesz=2M hugepagesz=2M hugepages=$want2"
  [ "$want1" -eq 0 ] || args="default_hugepagesz=2M hugepagesz=1G hugepages=$want1 hugepagesz=2M hugepages=$want2"
  reserve hugepages-2048kB "$want2" 2M "$args"
  [ "$want1" -eq 0 ] || reserve hugepages-1048576kB "$want1" 1G "$args"
  if ! mountpoint -q /dev/hugepages; then
    want "hugetlbfs mounted on /dev/hugepages"
    mkdir -p /dev/hugepages
    mount -t hugetlbfs hugetlbfs /dev/hugepages
  fi
}

said() { printf '%s %s\n' "$1" "$2"; }

undo_ovs() {
  local key value bridge
  bridge=$(get bridge)
  command -v ovs-vsctl >/dev/null || return 0
  # The database is needed to put the settings back, whatever is left running afterwards.
  systemctl start ovsdb-server 2>/dev/null || true
  if systemctl is-active --quiet ovsdb-server; then
    if ovs-vsctl br-exists "$bridge"; then
      ovs-vsctl --timeout=30 del-br "$bridge"
      said restored "no bridge $bridge"
    fi
    for key in "${OVS_KEYS[@]}"; do
      value=$(get "ovs_other_config:$key")
      if [ -n "$value" ]; then
        ovs-vsctl --no-wait set Open_vSwitch . "other_config:$key=$value"
      else
        ovs-vsctl --no-wait remove Open_vSwitch . other_config "$key"
      fi
    done
    said restored "OVS other_config (${OVS_KEYS[*]}) as it was"
  fi
  value=$(get ovs_alternative)
  if [ -n "$value" ] && [ "$(readlink -f /etc/alternatives/ovs-vswitchd)" != "$value" ]; then
    update-alternatives --set ovs-vswitchd "$value" >/dev/null
    said restored "ovs-vswitchd build $value"
  elif [ "$(get ovs_installed)" = 0 ]; then
    update-alternatives --auto ovs-vswitchd >/dev/null 2>&1 || true
  fi
  if [ "$(get ovs_active)" = 1 ]; then
    systemctl restart openvswitch-switch
    said restored "OVS running, restarted without DPDK's settings"
  else
    systemctl stop openvswitch-switch ovs-vswitchd ovsdb-server 2>/dev/null || true
    [ "$(get ovsdb_active)" = 1 ] && systemctl start ovsdb-server
    said restored "ovs-vswitchd stopped, as it was"
  fi
  if [ "$(get ovs_enabled)" != 1 ] && systemctl is-enabled --quiet openvswitch-switch 2>/dev/null; then
    systemctl disable --quiet openvswitch-switch 2>/dev/null || true
    rm -f /etc/systemd/system/multi-user.target.wants/openvswitch-switch.service
    rm -rf /etc/systemd/system/openvswitch-switch.service.requires
    systemctl daemon-reload
    said restored "openvswitch-switch not started at boot"
  fi
}

# unmount DIR WAS_MOUNTED DIR_EXISTED: a hugetlbfs mount dpdkci made, and its directory. One still in use
# (a DPDK program of the host's own) is kept rather than failing the rest of down.
unmount() {
  if [ "$2" = 0 ] && mountpoint -q "$1"; then
    if umount "$1"; then said restored "$1 not mounted"; else said kept "$1 mounted (in use)"; fi
  fi
  if [ "$3" = 0 ] && [ -d "$1" ] && ! mountpoint -q "$1" && rmdir -- "$1" 2>/dev/null; then said restored "no $1"; fi
}

undo_nic() {
  local pci driver current=''
  pci=$(get nic_pci)
  driver=$(get nic_driver)
  [ -n "$pci" ] && [ -e "/sys/bus/pci/devices/$pci" ] || return 0
  if command -v driverctl >/dev/null && grep -q "^$pci " < <(driverctl list-overrides 2>/dev/null); then
    driverctl unset-override "$pci"
  fi
  [ -e "/sys/bus/pci/devices/$pci/driver" ] && current=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
  if [ "$current" != "$driver" ]; then
    [ -n "$current" ] && echo "$pci" >"/sys/bus/pci/devices/$pci/driver/unbind"
    if [ -n "$driver" ]; then
      echo "$driver" >"/sys/bus/pci/devices/$pci/driver_override"
      echo "$pci" >/sys/bus/pci/drivers_probe
      echo >"/sys/bus/pci/devices/$pci/driver_override"
    fi
  fi
  current=''
  [ -e "/sys/bus/pci/devices/$pci/driver" ] && current=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
  [ "$current" = "$driver" ] || die "$pci is on ${current:-no driver}, not back on ${driver:-no driver}"
  said restored "$pci on ${driver:-no driver}, no driverctl override"
}

# What `dpdkci sync` recorded of its CNI pushes (sync.sh record_cni): added binaries go, replaced ones come
# back. Those pushed over what dpdkci's Kubernetes wrote (cni_over_kubernetes) were its undo's, which ran first.
undo_cni() {
  local name cni=/opt/cni/bin backup=$dir/cni-backup
  while read -r name; do
    rm -f -- "${cni:?}/$name"
    said restored "no $cni/$name (pushed by dpdkci sync)"
  done < <(awk -F= '$1 == "cni_added" { print $2 }' "$state")
  while read -r name; do
    # (Gone with the whole directory when dpdkci's Kubernetes made it; put back already by a down that
    # stopped further on.)
    if [ ! -d "$cni" ] || [ ! -e "$backup/$name" ]; then continue; fi
    mv -f -- "$backup/$name" "$cni/$name"
    said restored "$cni/$name as it was before dpdkci sync replaced it"
  done < <(awk -F= '$1 == "cni_replaced" { print $2 }' "$state")
  rm -rf -- "$backup"
  for name in $(get cni_dirs_created); do
    if rmdir -- "$name" 2>/dev/null; then said restored "no $name"; fi
  done
}

undo() {
  local prefix=$1 purge=$2 dir_ packages
  if [ ! -r "$state" ]; then
    said kept "nothing: no record of dpdkci on this host"
    return 0
  fi
  [ "$(get prefix)" = "$prefix" ] || die "this host is recorded as a node of cluster \"$(get prefix)\", not \"$prefix\""
  undo_ovs
  undo_nic
  dir_=$(get socket_dir)
  if [ "$(get socket_dir_existed)" = 0 ] && [ -e "$dir_" ]; then
    rm -rf -- "$dir_"
    said restored "no socket directory $dir_"
  fi
  if [ "$(get group_hugetlbfs_existed)" = 0 ] && getent group hugetlbfs >/dev/null; then
    groupdel hugetlbfs
    said restored "no group hugetlbfs"
  fi
  # (Keys absent from a record made by an older dpdkci: nothing is undone for them.)
  if [ "$(get vfio_noiommu)" = N ] && [ "$(cat "$NOIOMMU" 2>/dev/null || echo N)" = Y ]; then
    echo 0 >"$NOIOMMU"
    said restored "vfio's unsafe no-IOMMU mode off"
  fi
  unmount /dev/hugepages1G "$(get hp1g_mounted)" "$(get hp1g_dir_existed)"
  unmount /dev/hugepages "$(get hp2m_mounted)" "$(get hp2m_dir_existed)"
  get hp2m >$HP/hugepages-2048kB/nr_hugepages
  if [ -d $HP/hugepages-1048576kB ]; then get hp1g >$HP/hugepages-1048576kB/nr_hugepages; fi
  said restored "hugepages 2M=$(get hp2m) 1G=$(get hp1g), as recorded"
  # One packages_installed line per up that installed some.
  read -r -a packages <<<"$(awk -F= '$1 == "packages_installed" { printf "%s ", $2 }' "$state")"
  if [ "${#packages[@]}" -gt 0 ]; then
    if [ "$purge" = 1 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${packages[@]}" >/dev/null
      said restored "the packages as they were: purged ${packages[*]}"
    else
      said kept "packages dpdkci installed: ${packages[*]} (--purge-packages removes them)"
    fi
  fi
  undo_cni
  if [ "$(get scripts_existed)" = 0 ]; then
    rm -rf -- "$scripts"
    said restored "no $scripts"
  fi
  rm -f -- "$state"
  rmdir "$(dirname "$state")" 2>/dev/null || true
}

case "$mode:${1:-}" in
  check:record | apply:record) shift; part_record "$@" ;;
  check:packages | apply:packages) shift; part_packages "$@" ;;
  check:hugepages | apply:hugepages) shift; part_hugepages "$@" ;;
  undo:*) undo "$@" ;;
  *) die "unknown: $mode ${1:-}" ;;
esac
