#!/bin/bash
# On a node: traffic for `dpdkci check`. Each run prints testpmd's periodic port statistics
# (--stats-period 1), which the host parses; cleanup removes every trace of every run.
#
#   dpdk-check.sh loop    SOCKDIR LIMIT FLOW          vhost-user -> OVS-DPDK -> vhost-user inside the node
#   dpdk-check.sh peer    SOCKDIR BRIDGE LIMIT MAC PEER_MAC RATE_PPS FLOW
#                                                     vhost-user -> br-dpdk0 -> dpdk0 -> the peer node, and the
#                                                     peer's frames back, both ways at once (run on both nodes);
#                                                     RATE_PPS > 0 polices what goes out; nothing goes out until
#                                                     the host opens the gate (both ends' ports up)
#   dpdk-check.sh both    SOCKDIR BRIDGE LIMIT MAC PEER_MAC RATE_PPS FLOW
#                                                     loop and peer in one testpmd (ports 0 and 1: the loop;
#                                                     port 2: the peer), for a cluster of two nodes
#   dpdk-check.sh gate    BRIDGE open|close           let the check's frames out to dpdk0, or stop them
#   dpdk-check.sh kernel  LIMIT FLOW                  the same generator over AF_PACKET, veth and OVS's kernel datapath
#   dpdk-check.sh cleanup SOCKDIR BRIDGE              remove the check's ports, bridges, flows, processes, sockets
#   dpdk-check.sh stop                                stop the running testpmd (SIGINT: it prints its totals)
#
# A run stops FLOW seconds after every measured port has received traffic, or after LIMIT seconds, whichever
# comes first; FLOW 0 runs until LIMIT, or until the host stops it. A peer run does not stop there: it closes
# its gate, goes on receiving what its peer still sends, and stops once a sample shows nothing arrived on
# its peer port (the last of the measured ports).
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

cmd=${1:?usage: dpdk-check.sh loop|peer|both|gate|kernel|cleanup|stop ARGS...}
shift

die() {
  printf 'dpdk-check %s: %s\n' "$cmd" "$*" >&2
  exit 1
}

# testpmd LIMIT FLOW STOP_PORTS GATE EAL_ARGS... -- APP_ARGS...
#   flowgen: generates on every port and counts what each receives. STOP_PORTS ("0 1"): the ports that must
#   have received for FLOW seconds before the run is stopped. GATE: the bridge whose gate closes then (a peer
#   run), or - to stop at once.
testpmd() {
  local limit=$1 flow=$2 ports=$3 gate=$4
  shift 4
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
    --forward-mode=flowgen --stats-period 1 --nb-cores=1 --txd=1024 --rxd=1024 --txpkts=64 \
    --total-num-mbufs=16384 "${app[@]}" </dev/null 2>&1 | stamp "$flow" "$ports" "$gate" || rc=$?
  # timeout returns 124 when it had to send the signal, and 130 when testpmd was stopped early with SIGINT
  # (by stamp, or by the host); stamp itself cannot fail, so with pipefail the status is testpmd's.
  [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] || die "dpdk-testpmd exited $rc"
}

# stamp FLOW PORTS GATE: prefixes each line with the time it was printed, so that the host can time samples
# and gaps, and FLOW seconds after every one of PORTS has received traffic either stops testpmd (SIGINT) or,
# for a peer run (GATE, a bridge), closes the gate and stops testpmd at the first sample after that in which
# the peer port (the last of PORTS) received nothing (a second or more): by then the peer has closed its own
# gate and its frames in flight have arrived.
# The FLOW timer is a timer, not a count of samples: with its forwarding lcore on the same vCPU, testpmd
# prints its once-a-second statistics every one to two seconds under TCG. It runs on the node because the
# host cannot stop testpmd promptly: with both vCPUs busy polling (testpmd and the OVS PMD), a command sent
# over SSH takes seconds to start.
stamp() {
  local flow=$1 gate=$3 line port='' p q now all timer='' cut_at='' rx peer_port
  local -a ports
  read -r -a ports <<<"$2"
  peer_port=${ports[-1]}
  local -A flowing=()
  while IFS= read -r line; do
    now=$EPOCHREALTIME
    printf '%s %s\n' "$now" "$line"
    if [[ $line =~ NIC\ statistics\ for\ port\ ([0-9]+) ]]; then
      port=${BASH_REMATCH[1]}
      continue
    fi
    if [ -z "$port" ] || ! [[ $line =~ Rx-pps:\ +([0-9]+) ]]; then
      continue
    fi
    rx=${BASH_REMATCH[1]}
    p=$port
    port=''
    if [ "$flow" -gt 0 ]; then
      [ "$rx" -gt 0 ] && flowing[$p]=1
      all=1
      for q in "${ports[@]}"; do
        [ -n "${flowing[$q]:-}" ] || all=0
      done
      [ "$all" = 1 ] || continue
      if [ "$gate" = - ]; then
        (sleep "$flow" && stop_testpmd) >/dev/null 2>&1 &
        timer=$!
      else
        cut_at=$((${now%.*} + flow))
      fi
      flow=0
    elif [ -n "$cut_at" ] && [ "$p" = "$peer_port" ]; then
      if [ "$cut_at" != closed ]; then
        if [ "${now%.*}" -ge "$cut_at" ]; then
          gate "$gate" close || true
          cut_at=closed
        fi
      elif [ "$rx" -eq 0 ]; then
        stop_testpmd
        cut_at=''
      fi
    fi
  done
  # testpmd ended before the timer did: the timer must not stop a later run.
  if [ -n "$timer" ]; then kill "$timer" 2>/dev/null || true; fi
}

stop_testpmd() {
  pkill -INT -f -- "--file-prefix $FILE_PREFIX" || true
}

# gate BRIDGE open|close: a peer run's frames leave for dpdk0 only while the gate is open. Both ends open
# together once both vhost-user ports are up, so that no frame reaches a node before its port can take it.
gate() {
  case "$2" in
    close) ovs-ofctl add-flow "$1" "cookie=$COOKIE,priority=300,in_port=dpdkci-chk-p,actions=drop" ;;
    open) ovs-ofctl --strict del-flows "$1" "priority=300,in_port=dpdkci-chk-p" ;;
    *) die "gate: open or close, not $2" ;;
  esac
}

LOOP_A_MAC=02:dc:00:00:00:0a
LOOP_B_MAC=02:dc:00:00:00:0b

# loop_ports A_SOCK B_SOCK: the scratch bridge with two client ports wired to each other. One OVSDB
# transaction and one flow table replacement: each command costs a few hundred ms under TCG.
loop_ports() {
  rm -f "$1" "$2"
  ovs-vsctl --may-exist add-br "$LOOP_BRIDGE" -- set bridge "$LOOP_BRIDGE" datapath_type=netdev \
    -- --may-exist add-port "$LOOP_BRIDGE" dpdkci-chk-a -- set Interface dpdkci-chk-a type=dpdkvhostuserclient "options:vhost-server-path=$1" \
    -- --may-exist add-port "$LOOP_BRIDGE" dpdkci-chk-b -- set Interface dpdkci-chk-b type=dpdkvhostuserclient "options:vhost-server-path=$2"
  printf '%s\n' "in_port=dpdkci-chk-a,actions=output:dpdkci-chk-b" "in_port=dpdkci-chk-b,actions=output:dpdkci-chk-a" |
    ovs-ofctl replace-flows "$LOOP_BRIDGE" -
}

run_loop() {
  local dir=$1 limit=$2 flow=$3
  local a=$dir/dpdkci-chk-a.sock b=$dir/dpdkci-chk-b.sock
  loop_ports "$a" "$b"
  testpmd "$limit" "$flow" "0 1" - \
    --vdev "net_virtio_user0,path=$a,server=1,queues=1,queue_size=1024,mac=$LOOP_A_MAC" \
    --vdev "net_virtio_user1,path=$b,server=1,queues=1,queue_size=1024,mac=$LOOP_B_MAC" \
    -- --eth-peer=0,$LOOP_B_MAC --eth-peer=1,$LOOP_A_MAC
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

# peer_port SOCK BRIDGE PEER_MAC RATE_PPS: the check port on the bridge, policed, behind its closed gate.
peer_port() {
  local sock=$1 bridge=$2 peer=$3 rate=$4
  rm -f "$sock"
  ovs-vsctl br-exists "$bridge" || die "no bridge $bridge: was this node set up with --dpdk?"
  # One OVSDB transaction: each command costs a few hundred ms under TCG. An emulated NIC carries far less
  # than testpmd offers, so RATE_PPS > 0 polices the offer; OVS's policer counts a frame without its
  # Ethernet header: 64 - 14 = 50 bytes, 400 bits.
  local -a police=()
  if [ "$rate" -gt 0 ]; then
    police=("ingress_policing_rate=$((rate * 400 / 1000))" "ingress_policing_burst=$((rate * 400 / 10000 + 64))")
  fi
  ovs-vsctl --may-exist add-port "$bridge" dpdkci-chk-p -- set Interface dpdkci-chk-p type=dpdkvhostuserclient \
    "options:vhost-server-path=$sock" "${police[@]}"
  # Only the check's own frames are steered; everything else on the bridge keeps its NORMAL path. The gate
  # (priority 300) holds what testpmd generates until the host opens it.
  printf '%s\n' "cookie=$COOKIE,priority=300,in_port=dpdkci-chk-p,actions=drop" \
    "cookie=$COOKIE,priority=200,in_port=dpdkci-chk-p,actions=output:dpdk0" \
    "cookie=$COOKIE,priority=200,in_port=dpdk0,dl_src=$peer,actions=output:dpdkci-chk-p" |
    ovs-ofctl add-flows "$bridge" -
}

run_peer() {
  local dir=$1 bridge=$2 limit=$3 mac=$4 peer=$5 rate=$6 flow=$7
  local sock=$dir/dpdkci-chk-p.sock
  peer_port "$sock" "$bridge" "$peer" "$rate"
  dpdk0_counters "$bridge" before
  testpmd "$limit" "$flow" 0 "$bridge" --vdev "net_virtio_user0,path=$sock,server=1,queues=1,queue_size=1024,mac=$mac" -- "--eth-peer=0,$peer"
  dpdk0_counters "$bridge" after
}

# Both at once, in one testpmd: with two nodes, one EAL start-up per node instead of two, which under TCG
# (four busy vCPUs on the host's cores) took 10-15 s of the check. The loop's ports carry traffic from the
# moment they are up; the gate holds only the peer port.
run_both() {
  local dir=$1 bridge=$2 limit=$3 mac=$4 peer=$5 rate=$6 flow=$7
  local a=$dir/dpdkci-chk-a.sock b=$dir/dpdkci-chk-b.sock sock=$dir/dpdkci-chk-p.sock
  peer_port "$sock" "$bridge" "$peer" "$rate"
  loop_ports "$a" "$b"
  dpdk0_counters "$bridge" before
  testpmd "$limit" "$flow" "0 1 2" "$bridge" \
    --vdev "net_virtio_user0,path=$a,server=1,queues=1,queue_size=1024,mac=$LOOP_A_MAC" \
    --vdev "net_virtio_user1,path=$b,server=1,queues=1,queue_size=1024,mac=$LOOP_B_MAC" \
    --vdev "net_virtio_user2,path=$sock,server=1,queues=1,queue_size=1024,mac=$mac" \
    -- --eth-peer=0,$LOOP_B_MAC --eth-peer=1,$LOOP_A_MAC "--eth-peer=2,$peer"
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
  testpmd "$limit" "$flow" "0 1" - \
    --vdev "net_af_packet0,iface=dpdkci-k0,qpairs=1" --vdev "net_af_packet1,iface=dpdkci-k1,qpairs=1" \
    -- --eth-peer=0,02:dc:00:00:00:1b --eth-peer=1,02:dc:00:00:00:1a
}

cleanup() {
  local dir=$1 bridge=$2 i
  if pgrep -f -- "--file-prefix $FILE_PREFIX" >/dev/null; then
    stop_testpmd 2>/dev/null
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
  both) run_both "$@" ;;
  gate) gate "$@" ;;
  kernel) run_kernel "$@" ;;
  cleanup) cleanup "$@" ;;
  stop) stop_testpmd ;;
  *) die "unknown command" ;;
esac
