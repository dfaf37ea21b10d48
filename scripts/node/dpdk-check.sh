#!/bin/bash
# On a node: traffic for `dpdkci check`. Each run prints testpmd's periodic port statistics
# (--stats-period 1), which the host parses; cleanup removes every trace of every run.
#
#   dpdk-check.sh loop    SOCKDIR LIMIT FLOW          vhost-user -> OVS-DPDK -> vhost-user inside the node
#   dpdk-check.sh peer    SOCKDIR BRIDGE LIMIT MAC PEER_MAC send|receive RATE_PPS FLOW
#                                                     vhost-user -> br-dpdk0 -> dpdk0 -> the peer node; the
#                                                     sender's traffic goes out dpdk0, the receiver's is dropped;
#                                                     RATE_PPS > 0 polices the sender's port to that rate
#   dpdk-check.sh kernel  LIMIT FLOW                  the same generator over AF_PACKET, veth and OVS's kernel datapath
#   dpdk-check.sh cleanup SOCKDIR BRIDGE              remove the check's ports, bridges, flows, processes, sockets
#
# A run stops FLOW seconds after every measured port has seen traffic (the loop and kernel runs watch what
# both ports receive, a sender what it transmits), or after LIMIT seconds, whichever comes first. FLOW 0 runs until LIMIT, or until the host stops it (a receiver).
# EAL start-up under TCG takes a varying few seconds, which is why the stop is not a fixed duration.
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

# testpmd MODE LIMIT FLOW STOP_PORTS STOP_FIELD EAL_ARGS... -- APP_ARGS...
#   MODE: flowgen generates, rxonly only counts. STOP_PORTS ("0 1") and STOP_FIELD (Rx-pps or Tx-pps):
#   what must have flowed for FLOW seconds before the run is stopped.
testpmd() {
  local mode=$1 limit=$2 flow=$3 ports=$4 field=$5
  shift 5
  local -a eal=() app=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    eal+=("$1")
    shift
  done
  [ "$#" -gt 0 ] && shift
  app=("$@")
  # SIGINT makes testpmd stop forwarding, print its totals and release its hugepages. Line-buffered
  # (stdbuf), so that each second's statistics are read as they are printed.
  local rc=0
  timeout -s INT -k 10 "$limit" stdbuf -oL dpdk-testpmd --lcores '0@0,1@0' --no-pci --single-file-segments \
    --file-prefix "$FILE_PREFIX" --socket-mem 128 "${eal[@]}" -- \
    "--forward-mode=$mode" --stats-period 1 --nb-cores=1 --txd=1024 --rxd=1024 --txpkts=64 \
    --total-num-mbufs=16384 "${app[@]}" </dev/null 2>&1 | stamp "$flow" "$ports" "$field" || rc=$?
  # timeout returns 124 when it had to send the signal, and 130 when testpmd was stopped early with SIGINT
  # (by stamp, or by the host); stamp itself cannot fail, so with pipefail the status is testpmd's.
  [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] || die "dpdk-testpmd exited $rc"
}

# stamp FLOW PORTS FIELD: prefixes each line with the time it was printed, so that the host can time samples
# and gaps, and stops testpmd (SIGINT) FLOW seconds after every one of PORTS has shown FIELD above zero.
# A timer, not a count of samples: with its forwarding lcore on the same vCPU, testpmd prints its
# once-a-second statistics every one to two seconds under TCG. It runs on the node because the host cannot
# stop testpmd promptly: with both vCPUs busy polling (testpmd and the OVS PMD), a command sent over SSH
# takes seconds to start.
stamp() {
  local flow=$1 field=$3 line port='' p now all timer=''
  local -a ports
  read -r -a ports <<<"$2"
  local -A flowing=()
  while IFS= read -r line; do
    now=$EPOCHREALTIME
    printf '%s %s\n' "$now" "$line"
    [ "$flow" -gt 0 ] || continue
    if [[ $line =~ NIC\ statistics\ for\ port\ ([0-9]+) ]]; then
      port=${BASH_REMATCH[1]}
    elif [ -n "$port" ] && [[ $line =~ $field:\ +([0-9]+) ]]; then
      [ "${BASH_REMATCH[1]}" -gt 0 ] && flowing[$port]=1
      port=''
      all=1
      for p in "${ports[@]}"; do
        [ -n "${flowing[$p]:-}" ] || all=0
      done
      if [ "$all" = 1 ]; then
        (sleep "$flow" && pkill -INT -f -- "--file-prefix $FILE_PREFIX") >/dev/null 2>&1 &
        timer=$!
        flow=0
      fi
    fi
  done
  # testpmd ended before the timer did: the timer must not stop a later run.
  if [ -n "$timer" ]; then kill "$timer" 2>/dev/null || true; fi
}

vhost_port() { # BRIDGE PORT SOCKET
  ovs-vsctl --may-exist add-port "$1" "$2" -- set Interface "$2" type=dpdkvhostuserclient "options:vhost-server-path=$3"
}

run_loop() {
  local dir=$1 limit=$2 flow=$3
  local a=$dir/dpdkci-chk-a.sock b=$dir/dpdkci-chk-b.sock
  rm -f "$a" "$b"
  # One OVSDB transaction and one flow table replacement: each command costs a few hundred ms under TCG.
  ovs-vsctl --may-exist add-br "$LOOP_BRIDGE" -- set bridge "$LOOP_BRIDGE" datapath_type=netdev \
    -- --may-exist add-port "$LOOP_BRIDGE" dpdkci-chk-a -- set Interface dpdkci-chk-a type=dpdkvhostuserclient "options:vhost-server-path=$a" \
    -- --may-exist add-port "$LOOP_BRIDGE" dpdkci-chk-b -- set Interface dpdkci-chk-b type=dpdkvhostuserclient "options:vhost-server-path=$b"
  printf '%s\n' "in_port=dpdkci-chk-a,actions=output:dpdkci-chk-b" "in_port=dpdkci-chk-b,actions=output:dpdkci-chk-a" |
    ovs-ofctl replace-flows "$LOOP_BRIDGE" -
  testpmd flowgen "$limit" "$flow" "0 1" Rx-pps \
    --vdev "net_virtio_user0,path=$a,server=1,queues=1,queue_size=1024,mac=02:dc:00:00:00:0a" \
    --vdev "net_virtio_user1,path=$b,server=1,queues=1,queue_size=1024,mac=02:dc:00:00:00:0b" \
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
  local dir=$1 bridge=$2 limit=$3 mac=$4 peer=$5 role=$6 rate=$7 flow=$8
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
  if [ "$role" != send ]; then
    mode=rxonly
    flow=0
  fi
  dpdk0_counters "$bridge" before
  testpmd "$mode" "$limit" "$flow" 0 Tx-pps --vdev "net_virtio_user0,path=$sock,server=1,queues=1,queue_size=1024,mac=$mac" -- "--eth-peer=0,$peer"
  dpdk0_counters "$bridge" after
}

run_kernel() {
  local limit=$1 flow=$2 i
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
  testpmd flowgen "$limit" "$flow" "0 1" Rx-pps \
    --vdev "net_af_packet0,iface=dpdkci-k0,qpairs=1" --vdev "net_af_packet1,iface=dpdkci-k1,qpairs=1" \
    -- --eth-peer=0,02:dc:00:00:00:1b --eth-peer=1,02:dc:00:00:00:1a
}

cleanup() {
  local dir=$1 bridge=$2 i
  if pgrep -f -- "--file-prefix $FILE_PREFIX" >/dev/null; then
    pkill -INT -f -- "--file-prefix $FILE_PREFIX" 2>/dev/null || true
    for _ in $(seq 1 20); do
      pgrep -f -- "--file-prefix $FILE_PREFIX" >/dev/null || break
      sleep 0.5
    done
    pkill -KILL -f -- "--file-prefix $FILE_PREFIX" 2>/dev/null || true
  fi
  ovs-vsctl --if-exists del-br "$LOOP_BRIDGE" -- --if-exists del-br "$KERNEL_BRIDGE" \
    -- --if-exists del-port "$bridge" dpdkci-chk-p
  # Fails only when the bridge does not exist, and then there is no flow to remove either.
  ovs-ofctl del-flows "$bridge" "cookie=$COOKIE/-1" 2>/dev/null || true
  for i in 0 1; do
    if [ -e "/sys/class/net/dpdkci-k$i" ]; then ip link del "dpdkci-k$i"; fi
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
