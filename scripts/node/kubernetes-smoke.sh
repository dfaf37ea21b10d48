#!/bin/bash
# On a node: the node-side half of the Kubernetes smoke check, what the userspace CNI plugin leaves on a node
# for a pod on the vhost-user network and what it must remove when the pod goes. Nothing here talks to
# Kubernetes; kubernetes.sh (kubectl wait, annotations) calls these commands.
#
#   kubernetes-smoke.sh port   BRIDGE SOCKET_DIR BEFORE_FILE
#       prints the one dpdkvhostuserclient port on BRIDGE that BEFORE_FILE (`ovs-vsctl list-ports BRIDGE`
#       saved before the pod was created) does not list; fails if there is none or more than one
#   kubernetes-smoke.sh verify PORT SOCKET_DIR [POD_UID]
#       PORT is a dpdkvhostuserclient whose vhost-server-path is SOCKET_DIR/<pod uid>/PORT (the uid POD_UID
#       when given), and SOCKET_DIR/<pod uid> is a mount of that pod's shared-dir emptyDir; prints what it found
#   kubernetes-smoke.sh serve  PORT SOCKET_DIR TIMEOUT
#       serves PORT's socket as the pod's DPDK application would (dpdk-testpmd, vhost-user server), waits up
#       to TIMEOUT seconds for OVS to report the link up, stops testpmd and removes what it made
#   kubernetes-smoke.sh link   PORT TIMEOUT
#       only waits up to TIMEOUT seconds for PORT's link_state to be up
#   kubernetes-smoke.sh gone   PORT SOCKET_DIR POD_UID
#       after the pod was deleted: no port PORT in OVS, no mount, directory or socket under
#       SOCKET_DIR/POD_UID, no saved plugin data for PORT
#   kubernetes-smoke.sh address FIRST LAST < ANNOTATION
#       the pod's address, from the plugin's userspace/configuration-data annotation (its ipResult:
#       pkg/types/types.go ConfigurationData, pkg/configdata/configdata.go SaveRemoteConfig), is within
#       FIRST..LAST, the block of the node's own file in /etc/cni/multus/net.d; prints it
#
# What the plugin does, from intel/userspace-cni-network-plugin v24.02
# (intel/userspace-cni-network-plugin@3e14ba36364e5402d731707f9f5904242435d6c7), with the NAD dpdkci renders
# (host: engine ovs-dpdk, iftype vhostuser, vhost.mode client, vhost.group hugetlbfs):
#   - the pod volume named "shared-dir" gives the host directory: an emptyDir is
#     /var/lib/kubelet/pods/<pod uid>/volumes/kubernetes.io~empty-dir/shared-dir (pkg/annotations/annotations.go,
#     GetPodVolumeMountHostSharedDir); without such a volume the socket goes to
#     /usr/local/var/run/openvswitch/<container id[:12]>/ (userspace/cni/cni.go GetPodAndSharedDir,
#     pkg/configdata/configdata.go DefaultOvsCNIDir);
#   - that path is 89 characters or more and holds "empty-dir", so it is shortened to the fixed
#     /var/lib/vhost_sockets/<pod uid>, made with mode 0750 and bind-mounted (MS_BIND) onto the emptyDir, and
#     its group and /var/lib/vhost_sockets' are set to vhost.group (cniovs/cniovs.go getShortSharedDir,
#     createSharedDir, setSharedDirGroup, DefaultHostVhostuserBaseDir);
#   - the socket file and the OVS port share one name, <container id[:12]>-<ifname> (cniovs/cniovs.go
#     addLocalDeviceVhost), and the port is added with
#       ovs-vsctl add-port BRIDGE NAME -- set Interface NAME type=dpdkvhostuserclient \
#         options:vhost-server-path=<dir>/NAME
#     and nothing else: no external_ids, no --may-exist (cniovs/ovsctrl.go createVhostPort; with vhost.mode
#     server the type is dpdkvhostuser and OVS makes the socket);
#   - /var/lib/cni/usrspcni/data/local-<container id[:12]>-<ifname>.json keeps the port name for DEL
#     (cniovs/localdb.go SaveConfig, pkg/annotations/annotations.go DefaultLocalCNIDir);
#   - DEL: ovs-vsctl --if-exists del-port BRIDGE NAME, umount and rmdir /var/lib/vhost_sockets/<pod uid>, and
#     the saved data file removed (cniovs/cniovs.go delLocalDeviceVhost, cniovs/localdb.go LoadConfig).
# The plugin's directory is built in, so SOCKET_DIR must be /var/lib/vhost_sockets for a real pod.
#
# serve follows dpdk-check.sh: testpmd is the vhost-user server (virtio_user, server=1), OVS the client, with
# --no-pci --single-file-segments, a file prefix of its own and 128 MB of socket memory, its forwarding lcore on
# vCPU 0 beside its main lcore so that the OVS PMD keeps the last vCPU to itself.
set -euo pipefail

KUBELET_PODS=/var/lib/kubelet/pods
PLUGIN_DATA=/var/lib/cni/usrspcni/data
OVS_LOG=/var/log/openvswitch/ovs-vswitchd.log
# One EAL file prefix per serve: two at once (two pods) must not share or remove each other's runtime files.
FILE_PREFIX=dpdkci-k8s-smoke-$$
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

cmd=${1:?usage: kubernetes-smoke.sh port|verify|serve|link|gone ARGS...}
shift

die() {
  printf 'kubernetes-smoke %s: %s\n' "$cmd" "$*" >&2
  exit 1
}

# get PORT COLUMN[:KEY]: the value, unquoted; empty when there is no such interface or key.
get() {
  local v
  v=$(ovs-vsctl --timeout=10 --if-exists get Interface "$1" "$2")
  v=${v#\"}
  printf '%s' "${v%\"}"
}

server_path() { get "$1" options:vhost-server-path; }

# ovs_log PORT: OVS's last log lines about PORT, or its last lines when none names it.
ovs_log() {
  local lines
  lines=$(grep -F -- "$1" "$OVS_LOG" 2>/dev/null | tail -n 8 || true)
  if [ -z "$lines" ]; then lines=$(tail -n 8 "$OVS_LOG" 2>/dev/null || echo "(no $OVS_LOG)"); fi
  printf 'last lines of %s:\n%s' "$OVS_LOG" "$lines"
}

port_cmd() {
  local bridge=$1 dir=${2%/} before=$3 p t
  local -a fresh client=() other=()
  [ -r "$before" ] || die "expected the list of $bridge's ports from before the pod at $before, found no such file: the host saves \`ovs-vsctl list-ports $bridge\` there before it creates the pod"
  ovs-vsctl br-exists "$bridge" || die "expected bridge $bridge, found none: the node's dataplane is not set up (--dpdk)"
  mapfile -t fresh < <(comm -13 <(sort "$before") <(ovs-vsctl list-ports "$bridge" | sort))
  for p in "${fresh[@]}"; do
    t=$(get "$p" type)
    if [ "$t" = dpdkvhostuserclient ]; then client+=("$p"); else other+=("$p (type ${t:-none})"); fi
  done
  case "${#client[@]}" in
    1) printf '%s\n' "${client[0]}" ;;
    0)
      if [ "${#other[@]}" -gt 0 ]; then
        die "expected one new dpdkvhostuserclient port on $bridge, found only ${other[*]}: the NAD's host vhost.mode is not client (type dpdkvhostuser: OVS is the server and puts the socket in its own directory)"
      fi
      die "expected one new dpdkvhostuserclient port on $bridge since $before was written, found no new port: the userspace CNI did not attach the pod on this node (its log: the NAD's logFile)"
      ;;
    *)
      local list=''
      for p in "${client[@]}"; do list+=" $p -> $(server_path "$p");"; done
      die "expected one new dpdkvhostuserclient port on $bridge, found ${#client[@]}:${list} another pod or interface was attached since $before was written, so the smoke pod's port cannot be told apart (sockets for pods belong under $dir/<pod uid>/)"
      ;;
  esac
}

verify() {
  local port=$1 dir=${2%/} want=${3:-} type path rel uid name mount shared
  type=$(get "$port" type)
  [ -n "$type" ] || die "expected an OVS interface $port, found none: the port is gone, or the name is wrong"
  [ "$type" = dpdkvhostuserclient ] || die "expected $port to be type dpdkvhostuserclient, found ${type}: the NAD's host vhost.mode is not client, so OVS serves the socket instead of the pod"
  path=$(server_path "$port")
  [ -n "$path" ] || die "expected options:vhost-server-path on $port, found none: OVS has no socket to connect to"
  case "$path" in
    "$dir"/*) ;;
    *) die "expected $port's socket at $dir/<pod uid>/$port, found $path: the socket is outside the socket directory: the pod's shared-dir volume is missing or not named shared-dir (the plugin then falls back to /usr/local/var/run/openvswitch/<container id>/), or the node's socket directory is not /var/lib/vhost_sockets, the one the plugin has built in" ;;
  esac
  rel=${path#"$dir"/}
  uid=${rel%%/*}
  name=${rel#*/}
  if [ "$uid" = "$rel" ] || [ "$name" != "${name##*/}" ]; then
    die "expected $port's socket exactly one directory below $dir ($dir/<pod uid>/$port), found $path: the plugin did not make this directory from a pod's shared-dir emptyDir"
  fi
  [ "$name" = "$port" ] || die "expected the socket to be named after its port ($port), found $name: the plugin names both <container id[:12]>-<ifname>, so this port was made by something else"
  [[ $uid =~ $UUID_RE ]] || die "expected a pod UID as the directory below $dir, found $uid: the plugin names it after the pod, so this port was made by something else"
  [ -z "$want" ] || [ "$uid" = "$want" ] || die "expected the socket in pod $want's directory, found it in $uid's: the port belongs to another pod"
  mount=$(findmnt -n -o SOURCE --mountpoint "$dir/$uid" | head -n 1) || true
  if [ -z "$mount" ]; then
    [ -d "$dir/$uid" ] || die "expected $dir/$uid to be a mount point (the plugin bind-mounts the pod's shared-dir emptyDir there), found no directory: the plugin did not make the pod's socket directory"
    die "expected $dir/$uid to be a mount point (the plugin bind-mounts the pod's shared-dir emptyDir there), found a plain directory: the socket the pod's application makes in its emptyDir is not where OVS looks; the bind mount was made in a mount namespace that does not reach the host (multus' socket directory mount needs mountPropagation: Bidirectional), or was undone"
  fi
  shared=$KUBELET_PODS/$uid/volumes/kubernetes.io~empty-dir/shared-dir
  [ -d "$shared" ] || die "expected pod $uid's shared-dir emptyDir at $shared, found no such directory: the pod's shared-dir volume is not an emptyDir, or the pod is not on this node any more"
  [ "$(stat -c '%d:%i' "$dir/$uid")" = "$(stat -c '%d:%i' "$shared")" ] || die "expected $dir/$uid to be a mount of $shared, found a mount of $mount: the pod does not see what is in the socket directory"
  printf 'port %s\ntype %s\nvhost-server-path %s\npod-uid %s\nmount %s %s\nshared-dir %s\n' "$port" "$type" "$path" "$uid" "$dir/$uid" "$mount" "$shared"
}

# wait_link PORT TIMEOUT [PID]: 0 once link_state is up; 1 after TIMEOUT seconds; 2 when PID (the server)
# has exited before that. Prints the seconds it took.
wait_link() {
  local port=$1 timeout=$2 pid=${3:-} start=$SECONDS
  while [ $((SECONDS - start)) -lt "$timeout" ]; do
    if [ "$(get "$port" link_state)" = up ]; then
      printf '%s' "$((SECONDS - start))"
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
    sleep 1
  done
  return 1
}

link() {
  local port=$1 timeout=$2 secs rc=0 state path
  [ -n "$(get "$port" type)" ] || die "expected an OVS interface $port, found none"
  secs=$(wait_link "$port" "$timeout") || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf 'link %s up after %s s\n' "$port" "$secs"
    return 0
  fi
  state=$(get "$port" link_state)
  path=$(server_path "$port")
  die "expected $port's link_state up within $timeout s, found ${state:-no link_state}: nothing serves the vhost-user socket $path (OVS is the client: the pod's application must listen there); $(ovs_log "$port")"
}

SERVER_PID=''
SERVER_LOG=''
SERVER_SOCK=''

# Stops the testpmd serve started (SIGINT through timeout: it releases its hugepages) and removes the socket,
# hugepage files and runtime directory it left.
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -INT "$SERVER_PID" 2>/dev/null || true
    local _
    for _ in $(seq 1 40); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=''
  fi
  if [ -n "$SERVER_SOCK" ] && [ -S "$SERVER_SOCK" ]; then rm -f "$SERVER_SOCK"; fi
  rm -rf /dev/hugepages/"$FILE_PREFIX"map_* /run/dpdk/"$FILE_PREFIX"
  if [ -n "$SERVER_LOG" ]; then rm -f "$SERVER_LOG"; fi
}

serve() {
  local port=$1 dir=${2%/} timeout=$3 path secs rc=0
  path=$(server_path "$port")
  [ -n "$path" ] || die "expected $port with an options:vhost-server-path, found $( [ -n "$(get "$port" type)" ] && echo 'none' || echo 'no such interface')"
  case "$path" in
    "$dir"/*/*) ;;
    *) die "expected $port's socket under $dir/<pod uid>/, found $path: not serving a path outside the socket directory (run verify first)" ;;
  esac
  [ -d "${path%/*}" ] || die "expected the directory ${path%/*}, found none: the plugin did not make the pod's socket directory"
  if grep -qF -- " $path " < <(ss -xlHn 2>/dev/null); then
    die "expected nothing listening on $path, found a listener: the pod's own application already serves it"
  fi
  if [ -e "$path" ]; then
    [ -S "$path" ] || die "expected $path to be absent or a socket, found $(stat -c %F "$path"): not removing it"
    # testpmd will not listen on a stale socket file.
    rm -f "$path"
  fi
  SERVER_LOG=$(mktemp /tmp/dpdkci-k8s-smoke.XXXXXX)
  SERVER_SOCK=$path
  trap stop_server EXIT
  # A non-interactive testpmd exits when standard input ends, unless --stats-period keeps it running.
  timeout -s INT -k 10 "$((timeout + 60))" dpdk-testpmd --lcores '0@0,1@0' --no-pci --single-file-segments \
    --file-prefix "$FILE_PREFIX" --socket-mem 128 \
    --vdev "net_virtio_user0,path=$path,server=1,queues=1,queue_size=1024" -- \
    --forward-mode=rxonly --stats-period 1 --nb-cores=1 --txd=1024 --rxd=1024 --total-num-mbufs=8192 \
    </dev/null >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  secs=$(wait_link "$port" "$timeout" "$SERVER_PID") || rc=$?
  case "$rc" in
    0)
      stop_server
      printf 'serve %s: link up after %s s with dpdk-testpmd serving %s\n' "$port" "$secs" "$path"
      ;;
    2)
      local tail_log
      tail_log=$(tail -n 15 "$SERVER_LOG")
      die "expected dpdk-testpmd to serve $path until $port came up, found it exited first: $tail_log"
      ;;
    *)
      local state tail_log
      state=$(get "$port" link_state)
      tail_log=$(tail -n 8 "$SERVER_LOG")
      die "expected $port's link_state up within $timeout s of dpdk-testpmd listening on $path, found ${state:-no link_state}: OVS did not connect to the socket (hugepages, or the path it tries is not this one); $(ovs_log "$port"); testpmd: $tail_log"
      ;;
  esac
}

gone() {
  local port=$1 dir=${2%/} uid=$3 bridge mount
  bridge=$(ovs-vsctl --timeout=10 port-to-br "$port" 2>/dev/null || true)
  if [ -n "$bridge" ] || [ -n "$(ovs-vsctl --timeout=10 --bare --columns=name find Interface "name=$port")" ]; then
    die "expected no port $port after the pod was deleted, found it${bridge:+ on $bridge}: the userspace CNI's DEL did not run or failed, and OVS keeps trying to reconnect to the socket"
  fi
  [ ! -e "$dir/$uid/$port" ] || die "expected no socket $dir/$uid/$port, found $(stat -c %F "$dir/$uid/$port"): something still holds the pod's socket"
  mount=$(findmnt -n -o SOURCE --mountpoint "$dir/$uid" | head -n 1) || true
  [ -z "$mount" ] || die "expected no mount at $dir/$uid, found a mount of $mount: DEL did not unmount the pod's shared-dir, which keeps the emptyDir busy for kubelet"
  [ ! -e "$dir/$uid" ] || die "expected no directory $dir/$uid, found one holding [$(find "$dir/$uid" -mindepth 1 -maxdepth 1 -printf '%f ')]: DEL removes it after unmounting"
  [ ! -e "$PLUGIN_DATA/local-$port.json" ] || die "expected no saved plugin data $PLUGIN_DATA/local-$port.json, found it: the plugin's DEL reads and removes it, so DEL did not run for this interface"
  printf 'gone %s: no port, no socket, no mount or directory at %s\n' "$port" "$dir/$uid"
}

ip_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) + (b << 16) + (c << 8) + d))
}

address() {
  local first=$1 last=$2 data ip n
  data=$(cat)
  ip=$(grep -oE '"address": *"[0-9.]+/[0-9]+"' <<<"$data" | head -n 1 | grep -oE '[0-9]+(\.[0-9]+){3}') || true
  [ -n "$ip" ] || die "expected an address in the pod's userspace/configuration-data (ipResult.ips), found none: $(tr -d '\n' <<<"$data" | cut -c1-300)"
  n=$(ip_int "$ip")
  if [ "$n" -lt "$(ip_int "$first")" ] || [ "$n" -gt "$(ip_int "$last")" ]; then
    die "expected the pod's address within $first-$last, this node's own block, found $ip: multus did not take the network from this node's file in /etc/cni/multus/net.d"
  fi
  printf 'address %s within %s-%s\n' "$ip" "$first" "$last"
}

case "$cmd" in
  address) address "${1:?FIRST}" "${2:?LAST}" ;;
  port) port_cmd "${1:?BRIDGE}" "${2:?SOCKET_DIR}" "${3:?BEFORE_FILE}" ;;
  verify) verify "${1:?PORT}" "${2:?SOCKET_DIR}" "${3:-}" ;;
  serve) serve "${1:?PORT}" "${2:?SOCKET_DIR}" "${3:?TIMEOUT}" ;;
  link) link "${1:?PORT}" "${2:?TIMEOUT}" ;;
  gone) gone "${1:?PORT}" "${2:?SOCKET_DIR}" "${3:?POD_UID}" ;;
  *) die "unknown command (port, verify, serve, link, gone, address)" ;;
esac
