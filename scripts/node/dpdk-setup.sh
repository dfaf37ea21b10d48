#!/bin/bash
# On a node: converges one part of the OVS-DPDK dataplane.
#
#   dpdk-setup.sh check|apply hugepages  WANT_2M WANT_1G
#   dpdk-setup.sh check|apply vfio       PCI NOIOMMU(0|1)
#   dpdk-setup.sh check|apply socket-dir DIR
#   dpdk-setup.sh check|apply ovs        PCI SOCKET_MEM SOCKET_LIMIT LCORE_MASK PMD_MASK BRIDGE PMD_MAXSLEEP_US
#   dpdk-setup.sh info                   PCI BRIDGE   (key=value lines, for status)
#   dpdk-setup.sh prewarm ovs                          (what `up` starts in the background on new nodes)
#
# check: exit 0 when the part is already as asked, 3 (printing "pending <what>") when apply has work.
# apply: does only what is missing and prints "changed <what>" for each change.
# Any other non-zero exit is an error, explained on stderr.
set -euo pipefail

mode=${1:?usage: dpdk-setup.sh check|apply PART ARGS...}
part=${2:?missing PART}
shift 2

die() {
  printf 'dpdk-setup %s: %s\n' "$part" "$*" >&2
  exit 1
}

# want WHAT: in check mode, report pending work and stop; in apply mode, announce the change.
want() {
  if [ "$mode" = check ]; then
    printf 'pending %s\n' "$*"
    exit 3
  fi
  printf 'changed %s\n' "$*"
}

ovs_log_tail() {
  grep -E 'dpdk|EAL|netdev' /var/log/openvswitch/ovs-vswitchd.log 2>/dev/null | tail -n 8 >&2 || true
}

part_hugepages() {
  local want2=$1 want1=$2 got2 got1=0
  got2=$(</sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
  if [ -r /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages ]; then
    got1=$(</sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages)
  fi
  [ "$got2" -ge "$want2" ] || die "only $got2 of $want2 2M hugepages were reserved at boot; raise --memory or lower --hugepages-2m"
  [ "$got1" -ge "$want1" ] || die "only $got1 of $want1 1G hugepages were reserved at boot (the q35 memory layout leaves room for fewer than asked); raise --memory or lower --hugepages-1g"
  mountpoint -q /dev/hugepages || die "/dev/hugepages is not mounted"
  if [ "$want1" -gt 0 ] && ! mountpoint -q /dev/hugepages1G; then
    want "mount 1G hugetlbfs on /dev/hugepages1G"
    mkdir -p /dev/hugepages1G
    mount -t hugetlbfs -o pagesize=1G hugetlbfs /dev/hugepages1G
  fi
}

part_vfio() {
  local pci=$1 noiommu=$2 driver=''
  [ -e "/sys/bus/pci/devices/$pci" ] || die "no PCI device $pci on this node"
  if [ -z "$(ls -A /sys/class/iommu 2>/dev/null)" ]; then
    [ "$noiommu" = 1 ] || die "no IOMMU on this node (/sys/class/iommu is empty); boot it with intel_iommu=on, or accept --vfio-noiommu (unsafe: no DMA isolation)"
    if [ "$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null || echo N)" != Y ]; then
      want "vfio unsafe no-IOMMU mode"
      modprobe vfio enable_unsafe_noiommu_mode=1
      echo 1 >/sys/module/vfio/parameters/enable_unsafe_noiommu_mode
    fi
  fi
  if [ -e "/sys/bus/pci/devices/$pci/driver" ]; then
    driver=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
  fi
  if [ "$driver" != vfio-pci ] || ! grep -q "^$pci vfio-pci\$" < <(driverctl list-overrides 2>/dev/null); then
    want "$pci bound to vfio-pci (persistent driverctl override; was ${driver:-unbound})"
    modprobe vfio-pci
    driverctl set-override "$pci" vfio-pci
  fi
}

part_socket_dir() {
  local dir=$1
  if ! getent group hugetlbfs >/dev/null; then
    want "group hugetlbfs"
    groupadd --system hugetlbfs
  fi
  if [ ! -d "$dir" ]; then
    want "socket directory $dir"
    install -d -o root -g hugetlbfs -m 2775 "$dir"
  fi
  if [ "$(stat -c '%U:%G %a' "$dir")" != "root:hugetlbfs 2775" ]; then
    want "$dir owned by root:hugetlbfs, mode 2775 (was $(stat -c '%U:%G %a' "$dir"))"
    chown root:hugetlbfs "$dir"
    chmod 2775 "$dir"
  fi
}

ovs_get() {
  ovs-vsctl --if-exists get Open_vSwitch . "other_config:$1" 2>/dev/null | tr -d '"'
}

# The value of KEY in an OVSDB map as ovs-vsctl prints it: {a="x y", b=z}
map_get() {
  local map=$1 key=$2
  if [[ $map =~ (^|[{ ])$key=\"([^\"]*)\" ]]; then
    printf '%s' "${BASH_REMATCH[2]}"
  elif [[ $map =~ (^|[{ ])$key=([^,}]*) ]]; then
    printf '%s' "${BASH_REMATCH[2]}"
  fi
}

part_ovs() {
  local pci=$1 socket_mem=$2 socket_limit=$3 lcore_mask=$4 pmd_mask=$5 bridge=$6 pmd_maxsleep=$7
  local dpdk_build=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk restart=0 key value current
  local -a settings=()
  if [ "$(readlink -f /etc/alternatives/ovs-vswitchd)" != "$dpdk_build" ]; then
    want "ovs-vswitchd switched to its DPDK build"
    update-alternatives --set ovs-vswitchd "$dpdk_build" >/dev/null
    restart=1
  fi
  if ! systemctl is-enabled --quiet openvswitch-switch; then
    want "openvswitch-switch enabled at boot"
    # What `systemctl enable` would do (the unit is WantedBy=multi-user.target), without the detour through
    # systemd-sysv-install for the package's init script, which takes 5-10 s under TCG.
    # Its Also=ovs-record-hostname.service is RequiredBy=openvswitch-switch.service.
    systemctl add-wants --quiet --no-reload multi-user.target openvswitch-switch.service
    systemctl add-requires --quiet --no-reload openvswitch-switch.service ovs-record-hostname.service
  fi
  # The database first: DPDK settings are in place before ovs-vswitchd starts, so EAL starts once.
  if ! systemctl is-active --quiet ovsdb-server; then
    want "ovsdb-server started"
    systemctl start ovsdb-server
  fi
  declare -A config=(
    [dpdk-init]=true
    [dpdk-socket-mem]=$socket_mem
    [dpdk-socket-limit]=$socket_limit
    [dpdk-lcore-mask]=$lcore_mask
    [dpdk-extra]="-a $pci"
    [pmd-cpu-mask]=$pmd_mask
    [pmd-maxsleep]=$pmd_maxsleep
  )
  current=$(ovs-vsctl get Open_vSwitch . other_config)
  for key in dpdk-init dpdk-socket-mem dpdk-socket-limit dpdk-lcore-mask dpdk-extra pmd-cpu-mask pmd-maxsleep; do
    value=${config[$key]}
    if [ "$(map_get "$current" "$key")" != "$value" ]; then
      want "other_config:$key=$value"
      settings+=("other_config:$key=$value")
      # EAL settings are read once, when DPDK initialises; the PMD settings apply live.
      [[ $key == pmd-* ]] || restart=1
    fi
  done
  if [ "${#settings[@]}" -gt 0 ]; then
    # --no-wait: ovs-vswitchd may not run yet, and the settings take effect when it (re)starts below.
    ovs-vsctl --no-wait set Open_vSwitch . "${settings[@]}"
  fi
  if ! systemctl is-active --quiet ovs-vswitchd; then
    want "ovs-vswitchd started"
    systemctl start openvswitch-switch
  elif [ "$restart" = 1 ]; then
    want "ovs-vswitchd restarted for the new DPDK settings"
    systemctl restart ovs-vswitchd
  fi
  for _ in $(seq 1 90); do
    [ "$(ovs-vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null)" = true ] && break
    [ "$mode" = check ] && break
    sleep 1
  done
  if [ "$(ovs-vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null)" != true ]; then
    [ "$mode" = check ] && want "DPDK initialised in ovs-vswitchd"
    ovs_log_tail
    die "DPDK did not initialise in ovs-vswitchd within 90s (dpdk_initialized is not true)"
  fi
  local ports
  ports=$(ovs-vsctl list-ports "$bridge" 2>/dev/null || true)
  if ! ovs-vsctl br-exists "$bridge" || [ "$(ovs-vsctl get bridge "$bridge" datapath_type)" != netdev ] || ! grep -qx dpdk0 <<<"$ports"; then
    want "bridge $bridge (datapath netdev) with port dpdk0 ($pci)"
    ovs-vsctl --may-exist add-br "$bridge" -- set bridge "$bridge" datapath_type=netdev \
      -- --may-exist add-port "$bridge" dpdk0 -- set Interface dpdk0 type=dpdk "options:dpdk-devargs=$pci"
  fi
  local state error link
  state=$(ovs-vsctl get Interface dpdk0 error link_state)
  error=$(head -n 1 <<<"$state")
  link=$(tail -n 1 <<<"$state")
  if [ -n "$error" ] && [ "$error" != '[]' ]; then
    ovs_log_tail
    die "port dpdk0 has an error: $error"
  fi
  if [ "$link" != up ]; then
    want "port dpdk0 link up"
    for _ in $(seq 1 20); do
      [ "$(ovs-vsctl get Interface dpdk0 link_state 2>/dev/null)" = up ] && return 0
      sleep 0.5
    done
    die "port dpdk0 ($pci) did not come up (link_state $(ovs-vsctl get Interface dpdk0 link_state 2>/dev/null || echo unknown))"
  fi
}

# prewarm: the slow part of the ovs part that needs no setting, which `up` starts in the background on a new
# node (systemd-run) while the hugepages, vfio and socket-dir parts run. Under TCG: ovsdb-server creating its
# database and starting, about 3 s; ovs-ctl inserting the openvswitch module on the first start of
# ovs-vswitchd, about 2.5 s; EAL reading DPDK's drivers (about 30 MB) on that first start, about 1 s.
# The ovs part decides and checks everything itself, whether this ran, is still running or failed.
prewarm() {
  modprobe vfio-pci
  modprobe openvswitch
  systemctl start ovsdb-server.service
  cat /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk /usr/lib/x86_64-linux-gnu/dpdk/pmds-*/*.so.* >/dev/null
}

info() {
  local pci=$1 bridge=$2 driver=''
  [ -e "/sys/bus/pci/devices/$pci/driver" ] && driver=$(basename "$(readlink "/sys/bus/pci/devices/$pci/driver")")
  printf 'driver=%s\n' "$driver"
  printf 'dpdk_initialized=%s\n' "$(ovs-vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null || echo unknown)"
  printf 'pmd_cpu_mask=%s\n' "$(ovs_get pmd-cpu-mask)"
  printf 'lcore_mask=%s\n' "$(ovs_get dpdk-lcore-mask)"
  printf 'socket_mem=%s\n' "$(ovs_get dpdk-socket-mem)"
  printf 'dpdk0_link=%s\n' "$(ovs-vsctl get Interface dpdk0 link_state 2>/dev/null || echo missing)"
  printf 'bridge=%s\n' "$(ovs-vsctl br-exists "$bridge" && echo "$bridge")"
  printf 'ovs_version=%s\n' "$(ovs-vsctl get Open_vSwitch . dpdk_version 2>/dev/null | tr -d '"')"
}

case "$mode:$part" in
  check:hugepages | apply:hugepages) part_hugepages "$@" ;;
  check:vfio | apply:vfio) part_vfio "$@" ;;
  check:socket-dir | apply:socket-dir) part_socket_dir "$@" ;;
  check:ovs | apply:ovs) part_ovs "$@" ;;
  info:*) info "$part" "$@" ;;
  prewarm:ovs) prewarm ;;
  *) die "unknown: $mode $part" ;;
esac
