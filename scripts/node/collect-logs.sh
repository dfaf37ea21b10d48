#!/bin/bash
# On a node: gathers what explains a failure and prints it as one base64-encoded tar.gz on stdout, so that
# `dpdkci logs` gets it over the same SSH channel as any command (no file transfer, any bytes).
#
#   collect-logs.sh
#
# Every part is best-effort and bounded in time: a broken OVS or a missing kubelet leaves a note in its file,
# never an empty archive.
set -euo pipefail

out=$(mktemp -d /tmp/dpdkci-logs.XXXXXX)
trap 'rm -rf "$out"' EXIT

# capture FILE COMMAND...: the command's output (or why there is none) into FILE.
capture() {
  local file=$1
  shift
  local -a run=(timeout 30)
  # A function of this script runs as it is (timeout runs programs only); ours are quick.
  if declare -F "$1" >/dev/null; then run=(); fi
  if ! "${run[@]}" "$@" >"$out/$file" 2>&1; then
    printf '\n(dpdkci: "%s" failed or timed out)\n' "$*" >>"$out/$file"
  fi
}

capture journal.log journalctl -b --no-pager -o short-precise -n 20000
capture dmesg.log dmesg
capture cmdline.txt cat /proc/cmdline
capture meminfo.txt grep -i huge /proc/meminfo
pci_drivers() {
  local d
  for d in /sys/bus/pci/devices/*; do
    printf '%s %s\n' "${d##*/}" "$(readlink "$d/driver" 2>/dev/null | xargs -r basename)"
  done
  driverctl list-overrides
}
capture pci-drivers.txt pci_drivers
capture iommu.txt bash -c 'ls -l /sys/class/iommu/ /sys/kernel/iommu_groups/ 2>&1'
capture ip-addr.txt ip -d addr
capture systemctl-failed.txt systemctl --failed --no-pager

if command -v ovs-vsctl >/dev/null 2>&1; then
  # Whether OVS ran at all on this boot (dpdkci starts it in its OVS-DPDK step): a failure before that
  # step leaves no OVS log, and this says so.
  capture ovs-status.txt systemctl status --no-pager --lines=20 ovsdb-server ovs-vswitchd
  for log in /var/log/openvswitch/*.log; do
    [ -e "$log" ] && cp "$log" "$out/"
  done
  capture ovs-vsctl-show.txt ovs-vsctl --timeout=10 show
  capture ovs-open-vswitch.txt ovs-vsctl --timeout=10 list Open_vSwitch
  capture ovs-interfaces.txt ovs-vsctl --timeout=10 list Interface
  capture ovs-pmd-stats.txt ovs-appctl --timeout=10 dpif-netdev/pmd-stats-show
  # DPDK's own lines (EAL, the PMDs, vhost-user) out of the vswitchd log.
  capture dpdk.log grep -aiE 'dpdk|eal|vhost|netdev_dpdk' /var/log/openvswitch/ovs-vswitchd.log
fi

if systemctl cat kubelet.service >/dev/null 2>&1; then
  capture kubelet.log journalctl -b --no-pager -u kubelet -n 20000
  capture containerd.log journalctl -b --no-pager -u containerd -n 5000
  # The NAD has no spec: its network (and this node's block of addresses) is this node's file there.
  capture cni-multus-net.d.txt bash -c 'head -n 200 /etc/cni/multus/net.d/* 2>&1'
fi
if [ -f /etc/kubernetes/admin.conf ] && command -v kubectl >/dev/null 2>&1; then
  capture kubectl-get-all.txt kubectl --kubeconfig /etc/kubernetes/admin.conf get all,nodes,events -A -o wide
  capture kubectl-get-nads.txt kubectl --kubeconfig /etc/kubernetes/admin.conf get network-attachment-definitions -A -o yaml
  capture kubectl-describe-nodes.txt kubectl --kubeconfig /etc/kubernetes/admin.conf describe nodes
fi

tar -C "$out" -czf - . | base64 -w0
