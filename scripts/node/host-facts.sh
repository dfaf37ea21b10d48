#!/bin/bash
# On a machine dpdkci did not boot (provider hosts): what it offers and what would make binding its DPDK NIC
# unsafe. Changes nothing; prints key=value lines that providers/hosts/facts.ts judges.
#
#   host-facts.sh NIC BRIDGE SOCKET_DIR     NIC: a PCI address or an interface name
set -euo pipefail

nic=${1:?usage: host-facts.sh NIC BRIDGE SOCKET_DIR}
bridge=${2:?missing BRIDGE}
socket_dir=${3:?missing SOCKET_DIR}
state=/var/lib/dpdkci/host-state

fact() { printf '%s=%s\n' "$1" "$2"; }

PCI_RE='^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$'

# The PCI address behind a network interface, or nothing for a virtual one. A virtio NIC's device is
# virtioN, a child of the PCI function, so walk up until a PCI address.
pci_of_dev() {
  local link
  link=$(readlink -f "/sys/class/net/$1/device" 2>/dev/null) || return 0
  while [ -n "$link" ] && [ "$link" != / ]; do
    if [[ $(basename "$link") =~ $PCI_RE ]]; then
      basename "$link"
      return 0
    fi
    link=$(dirname "$link")
  done
  return 0
}

# The interfaces a PCI function carries (its own net/ or, for virtio, its virtioN child's).
ifaces_of_pci() {
  local dev
  for dev in /sys/class/net/*; do
    [ "$(pci_of_dev "$(basename "$dev")")" = "$1" ] && printf '%s ' "$(basename "$dev")"
  done
  return 0
}

# The interface that has an address, or nothing.
dev_of_addr() {
  ip -o addr show 2>/dev/null | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }'
}

# shellcheck disable=SC1091 # the host's own file
. /etc/os-release
fact os_id "${ID:-unknown}"
fact os_version_id "${VERSION_ID:-}"
fact os_pretty "${PRETTY_NAME:-unknown}"
fact kernel "$(uname -r)"
fact cpus "$(nproc)"
fact iommu "$(find /sys/class/iommu -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
fact cmdline "$(cat /proc/cmdline)"
fact cpu_vendor "$(awk -F': *' '$1 ~ /^vendor_id/ { print $2; exit }' /proc/cpuinfo)"
fact mem_available_kib "$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)"
hp=/sys/kernel/mm/hugepages
fact hp2m_total "$(cat $hp/hugepages-2048kB/nr_hugepages 2>/dev/null || echo 0)"
fact hp2m_free "$(cat $hp/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)"
if [ -d $hp/hugepages-1048576kB ]; then
  fact hp1g_supported 1
  fact hp1g_total "$(cat $hp/hugepages-1048576kB/nr_hugepages)"
  fact hp1g_free "$(cat $hp/hugepages-1048576kB/free_hugepages)"
else
  fact hp1g_supported 0
fi

# The NIC, resolved to its PCI address and described.
pci=''
if [[ $nic =~ $PCI_RE ]]; then
  [ -e "/sys/bus/pci/devices/$nic" ] && pci=$nic
elif [ -e "/sys/class/net/$nic" ]; then
  pci=$(pci_of_dev "$nic")
  fact nic_iface_exists 1
fi
fact nic_pci "$pci"
if [ -n "$pci" ]; then
  dev=/sys/bus/pci/devices/$pci
  driver=''
  [ -e "$dev/driver" ] && driver=$(basename "$(readlink "$dev/driver")")
  fact nic_driver "$driver"
  fact nic_numa "$(cat "$dev/numa_node" 2>/dev/null || echo -1)"
  fact nic_ifaces "$(ifaces_of_pci "$pci")"
  fact nic_vendor_device "$(cat "$dev/vendor"):$(cat "$dev/device")"
  if command -v driverctl >/dev/null; then
    fact nic_override "$(driverctl list-overrides 2>/dev/null | awk -v p="$pci" '$1 == p { print $2 }')"
  fi
fi

# What binding a NIC must not cut: the default routes and every established SSH session.
for dev in $(ip -o route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }'; ip -o -6 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }'); do
  fact default_route "$dev $(pci_of_dev "$dev")"
done
addrs=()
if [ -n "${SSH_CONNECTION:-}" ]; then
  read -r _ _ server _ <<<"$SSH_CONNECTION"
  addrs+=("$server")
fi
while read -r here; do
  here=${here%:*}
  here=${here#[}
  here=${here%]}
  addrs+=("${here#::ffff:}")
done < <(ss -Htnp state established 2>/dev/null | awk '/"sshd/ { print $3 }')
for addr in $(printf '%s\n' "${addrs[@]}" | sort -u); do
  dev=$(dev_of_addr "$addr")
  [ -n "$dev" ] && fact ssh_via "$dev $(pci_of_dev "$dev")"
done

# What already claims the NIC or dpdkci's names.
if [ -r "$state" ]; then
  fact state_prefix "$(awk -F= '$1 == "prefix" { print $2 }' "$state")"
fi
if command -v ovs-vsctl >/dev/null && ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
  fact ovs_running 1
  ovs-vsctl br-exists "$bridge" && fact bridge_exists 1
  while read -r br; do
    for port in $(ovs-vsctl list-ports "$br"); do
      devargs=$(ovs-vsctl --if-exists get Interface "$port" options:dpdk-devargs 2>/dev/null | tr -d '"')
      if [ -n "$pci" ] && [ "$devargs" = "$pci" ]; then fact ovs_claim "$port $br"; fi
    done
  done < <(ovs-vsctl list-br)
  # The NIC's interface on a bridge as an ordinary (kernel) port, or in a bond.
  if [ -n "$pci" ]; then
    for iface in $(ifaces_of_pci "$pci"); do
      if br=$(ovs-vsctl --timeout=5 iface-to-br "$iface" 2>/dev/null); then fact ovs_iface_claim "$iface $br"; fi
    done
  fi
else
  fact ovs_running 0
fi
[ -e "$socket_dir" ] && fact socket_dir_exists 1

# A container runtime or Kubernetes of the host's own, which dpdkci's pinned containerd 2 and kubelet
# would replace (and its down would remove): reported, and refused with --kubernetes. An installed but
# unused containerd package is not one: its /etc/containerd/config.toml is kept and put back at down.
fact mem_total_kib "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
# Swap in use now, one line per area (/proc/swaps: a header, then name, type, size in KiB, used, priority).
# Reported, not changed: dpdkci's kubelet runs beside it (failSwapOn false, swapBehavior NoSwap).
if [ -r /proc/swaps ]; then
  while read -r name type size _; do fact swap "$name $type $size"; done < <(tail -n +2 /proc/swaps)
fi
# A firewall of the host's own, which may drop what the nodes send each other (the API server, the
# kubelet, calico's BGP and VXLAN): reported, for check hosts to name the ports. Read, never changed.
for unit in firewalld ufw; do
  if systemctl is-active --quiet "$unit" 2>/dev/null; then fact firewall "service $unit"; fi
done
if command -v nft >/dev/null && nft list chains 2>/dev/null | grep -Eq 'hook input .*policy (drop|reject)'; then
  fact firewall "nftables input policy drop"
elif command -v iptables >/dev/null && iptables -S INPUT 2>/dev/null | grep -Eq '^-P INPUT (DROP|REJECT)'; then
  fact firewall "iptables INPUT policy DROP"
fi
for path in /etc/kubernetes /var/lib/kubelet /var/lib/etcd /var/lib/containerd \
  /usr/local/bin/containerd /usr/local/bin/kubelet /usr/local/bin/kubeadm /usr/local/sbin/runc \
  /etc/systemd/system/containerd.service /etc/systemd/system/kubelet.service; do
  if [ -e "$path" ]; then fact k8s_found "$path"; fi
done
if [ -n "$(ls -A /etc/cni/net.d 2>/dev/null)" ]; then fact k8s_found "/etc/cni/net.d (not empty)"; fi
for unit in containerd docker crio kubelet; do
  if systemctl is-active --quiet "$unit" 2>/dev/null; then fact k8s_found "service $unit"; fi
done
true
