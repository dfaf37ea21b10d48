#!/bin/bash
# On a node: traffic for `dpdkci check`. Each run prints testpmd's periodic port statistics
# (--stats-period 1), which the host parses; cleanup removes every trace of every run.
#
#   dpdk-check.sh loop    SOCKDIR SECONDS             vhost-user -> OVS-DPDK -> vhost-user inside the node
#   dpdk-check.sh peer    SOCKDIR BRIDGE SECONDS MAC PEER_MAC send|receive RATE_PPS
#                                                     vhost-user -> br-dpdk0 -> dpdk0 -> the peer node; the
#                                                     sender's traffic goes out dpdk0, the receiver's is dropped;
#                                                     RATE_PPS > 0 polices the sender's port to that rate
#   dpdk-check.sh kernel  SECONDS                     the same generator over AF_PACKET, veth and OVS's kernel datapath
#   dpdk-check.sh cleanup SOCKDIR BRIDGE              remove the check's ports, bridges, flows, processes, sockets
#
# testpmd is the vhost-user server (virtio_user, server=1) and OVS the client (dpdkvhostuserclient),
# the mode KubeVirt uses. Its forwarding lcore shares vCPU 0 with its main lcore, so that the OVS PMD keeps
# the last vCPU to itself.
set -euo pipefail

LOOP_BRIDGE=br-dpdkci-chk
KERNEL_BRIDGE=br-dpdkci-kern
COOKIE=0xdc1
FILE_PREFIX=dpdkci-chk

cmd=${1:?usage: dpdk-check.sh loop|peer|kernel|cleanup ARGS...}
shift

die() {
  printf 'dpdk-check %s: %s\n' "$cmd" "$*" >&2
  exit 1
}

# testpmd MODE SECONDS EAL_ARGS... -- APP_ARGS...   (MODE: flowgen generates, rxonly only counts)
testpmd() {
  local mode=$1 seconds=$2
  shift 2
  local -a eal=() app=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    eal+=("$1")
    shift
  done
  [ "$#" -gt 0 ] && shift
  app=("$@")
  # SIGINT makes testpmd stop forwarding, print its totals and release its hugepages.
  local rc=0
  timeout -s INT -k 10 "$seconds" dpdk-testpmd --lcores '0@0,1@0' --no-pci --single-file-segments \
    --file-prefix "$FILE_PREFIX" --socket-mem 256 "${eal[@]}" -- \
    "--forward-mode=$mode" --stats-period 1 --nb-cores=1 --txd=512 --rxd=512 --txpkts=64 \
    --total-num-mbufs=16384 "${app[@]}" </dev/null 2>&1 | stamp || rc=$?
  # timeout returns 124 when it had to send the signal, which is how a run ends, and 130 when the host
  # stopped it early with SIGINT (stamp itself cannot fail, so with pipefail the status is testpmd's).
  [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] || die "dpdk-testpmd exited $rc"
}

# Prefixes each line with the time it was printed, so that the host can time samples and gaps.
stamp() {
  local line
  while IFS= read -r line; do
    printf '%s %s\n' "$EPOCHREALTIME" "$line"
  done
}

vhost_port() { # BRIDGE PORT SOCKET
  ovs-vsctl --may-exist add-port "$1" "$2" -- set Interface "$2" type=dpdkvhostuserclient "options:vhost-server-path=$3"
}

run_loop() {
  local dir=$1 seconds=$2
  local a=$dir/dpdkci-chk-a.sock b=$dir/dpdkci-chk-b.sock
  rm -f "$a" "$b"
  ovs-vsctl --may-exist add-br "$LOOP_BRIDGE" -- set bridge "$LOOP_BRIDGE" datapath_type=netdev
  vhost_port "$LOOP_BRIDGE" dpdkci-chk-a "$a"
  vhost_port "$LOOP_BRIDGE" dpdkci-chk-b "$b"
  ovs-ofctl del-flows "$LOOP_BRIDGE"
  ovs-ofctl add-flow "$LOOP_BRIDGE" "in_port=dpdkci-chk-a,actions=output:dpdkci-chk-b"
  ovs-ofctl add-flow "$LOOP_BRIDGE" "in_port=dpdkci-chk-b,actions=output:dpdkci-chk-a"
  testpmd flowgen "$seconds" \
    --vdev "net_virtio_user0,path=$a,server=1,queues=1,mac=02:dc:00:00:00:0a" \
    --vdev "net_virtio_user1,path=$b,server=1,queues=1,mac=02:dc:00:00:00:0b" \
    -- --eth-peer=0,02:dc:00:00:00:0b --eth-peer=1,02:dc:00:00:00:0a
}

# Prints dpdk0's packet counters as "@@dpdk0 LABEL tx=N rx=N" for the host to take deltas. Read live over
# OpenFlow: the statistics column in OVSDB is refreshed only every few seconds.
dpdk0_counters() { # BRIDGE LABEL
  local out tx rx
  out=$(ovs-ofctl dump-ports "$1" dpdk0)
  tx=$(grep -o 'tx pkts=[0-9]*' <<<"$out" | cut -d= -f2)
  rx=$(grep -o 'rx pkts=[0-9]*' <<<"$out" | cut -d= -f2)
  printf '@@dpdk0 %s tx=%s rx=%s\n' "$2" "$tx" "$rx"
}

run_peer() {
  local dir=$1 bridge=$2 seconds=$3 mac=$4 peer=$5 role=$6 rate=$7
  local sock=$dir/dpdkci-chk-p.sock
  rm -f "$sock"
  ovs-vsctl br-exists "$bridge" || die "no bridge $bridge: was this node set up with --dpdk?"
  vhost_port "$bridge" dpdkci-chk-p "$sock"
  # Only the check's own frames are steered; everything else on the bridge keeps its NORMAL path.
  # One direction at a time; the receiver only counts (rxonly), so that its OVS PMD and vCPU do nothing
  # but deliver the peer's frames.
  if [ "$role" = send ] && [ "$rate" -gt 0 ]; then
    # An emulated NIC carries far less than testpmd offers; police the offer. OVS's policer counts a frame
    # without its Ethernet header: 64 - 14 = 50 bytes, 400 bits.
    ovs-vsctl set Interface dpdkci-chk-p "ingress_policing_rate=$((rate * 400 / 1000))" \
      "ingress_policing_burst=$((rate * 400 / 10000 + 64))"
  fi
  if [ "$role" = send ]; then
    ovs-ofctl add-flow "$bridge" "cookie=$COOKIE,priority=200,in_port=dpdkci-chk-p,actions=output:dpdk0"
  else
    ovs-ofctl add-flow "$bridge" "cookie=$COOKIE,priority=200,in_port=dpdkci-chk-p,actions=drop"
    ovs-ofctl add-flow "$bridge" "cookie=$COOKIE,priority=200,in_port=dpdk0,dl_src=$peer,actions=output:dpdkci-chk-p"
  fi
  local mode=flowgen
  [ "$role" = send ] || mode=rxonly
  dpdk0_counters "$bridge" before
  testpmd "$mode" "$seconds" --vdev "net_virtio_user0,path=$sock,server=1,queues=1,mac=$mac" -- "--eth-peer=0,$peer"
  dpdk0_counters "$bridge" after
}

run_kernel() {
  local seconds=$1 i
  for i in 0 1; do
    ip link show "dpdkci-k$i" >/dev/null 2>&1 || ip link add "dpdkci-k$i" type veth peer name "dpdkci-k${i}p"
    ip link set "dpdkci-k$i" up
    ip link set "dpdkci-k${i}p" up
  done
  ovs-vsctl --may-exist add-br "$KERNEL_BRIDGE" -- set bridge "$KERNEL_BRIDGE" datapath_type=system \
    -- --may-exist add-port "$KERNEL_BRIDGE" dpdkci-k0p -- --may-exist add-port "$KERNEL_BRIDGE" dpdkci-k1p
  ovs-ofctl del-flows "$KERNEL_BRIDGE"
  ovs-ofctl add-flow "$KERNEL_BRIDGE" "in_port=dpdkci-k0p,actions=output:dpdkci-k1p"
  ovs-ofctl add-flow "$KERNEL_BRIDGE" "in_port=dpdkci-k1p,actions=output:dpdkci-k0p"
  testpmd flowgen "$seconds" \
    --vdev "net_af_packet0,iface=dpdkci-k0,qpairs=1" --vdev "net_af_packet1,iface=dpdkci-k1,qpairs=1" \
    -- --eth-peer=0,02:dc:00:00:00:1b --eth-peer=1,02:dc:00:00:00:1a
}

cleanup() {
  local dir=$1 bridge=$2 i
  pkill -INT -f -- "--file-prefix $FILE_PREFIX" 2>/dev/null || true
  for _ in $(seq 1 20); do
    pgrep -f -- "--file-prefix $FILE_PREFIX" >/dev/null || break
    sleep 0.5
  done
  pkill -KILL -f -- "--file-prefix $FILE_PREFIX" 2>/dev/null || true
  ovs-vsctl --if-exists del-br "$LOOP_BRIDGE" -- --if-exists del-br "$KERNEL_BRIDGE" \
    -- --if-exists del-port "$bridge" dpdkci-chk-p
  if ovs-vsctl br-exists "$bridge"; then
    ovs-ofctl del-flows "$bridge" "cookie=$COOKIE/-1"
  fi
  for i in 0 1; do
    if ip link show "dpdkci-k$i" >/dev/null 2>&1; then ip link del "dpdkci-k$i"; fi
  done
  rm -f "$dir"/dpdkci-chk-*.sock /dev/hugepages/"$FILE_PREFIX"* /run/dpdk/"$FILE_PREFIX"/* 2>/dev/null || true
}

case "$cmd" in
  loop) run_loop "$@" ;;
  peer) run_peer "$@" ;;
  kernel) run_kernel "$@" ;;
  cleanup) cleanup "$@" ;;
  *) die "unknown command" ;;
esac
