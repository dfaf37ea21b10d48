#!/bin/bash
# On a node of a cluster with Kubernetes: the parts `dpdkci up` converges, as check/apply pairs like
# dpdk-setup.sh (check exits 0 when the part is in place and 3 when apply has work to do), and the
# commands the host reads from. Files arrive on standard input; the host renders them from manifests/.
#
#   kubernetes.sh check|apply node-network PCI ADDRESS/LEN   the kernel NIC at PCI carries the node address
#   kubernetes.sh check init                                the API server of a completed kubeadm init answers
#   kubernetes.sh apply init WAIT_S                         a completed init: its API server waited for (never
#                                                           reset); else kubeadm init (stdin: its configuration)
#   kubernetes.sh ca-hash                                   "sha256:HASH" of the cluster CA's public key
#   kubernetes.sh join-credentials                          "TOKEN sha256:HASH" for a worker to join with
#   kubernetes.sh check join sha256:HASH                    joined, with kubelet.conf trusting the CA of HASH
#   kubernetes.sh apply join                                kubeadm join (stdin: the join configuration)
#   kubernetes.sh admin-kubeconfig                          the cluster admin's kubeconfig
#   kubernetes.sh check|apply addons SUM                    apply /etc/dpdkci/addons/ in name order (below)
#   kubernetes.sh smoke NAD BRIDGE SOCKET_DIR TIMEOUT FIRST LAST
#                                                           nodes Ready, CNI pods Running, and a pod on the
#                                                           NAD gets an address in FIRST..LAST and a vhost-
#                                                           user port whose socket is bind-mounted, served
#                                                           and linked up (stdin: the pod)
set -euo pipefail

# Both can be pointed elsewhere, which only the unit test of the add-on parsing does.
export KUBECONFIG=${DPDKCI_KUBECONFIG:-/etc/kubernetes/admin.conf}
ADDONS=${DPDKCI_ADDONS_DIR:-/etc/dpdkci/addons}
NETWORK_FILE=/etc/systemd/network/15-dpdkci-kubernetes.network
# Written only once kubeadm init exited 0: the CA hash of the control plane it made. A control plane with it
# is complete, and comes back after a reboot by itself; one without it is an init that never finished.
INIT_DONE=/etc/dpdkci/kubeadm-init.done
SMOKE=$(dirname "$0")/kubernetes-smoke.sh

die() {
  printf 'kubernetes: %s\n' "$*" >&2
  exit 1
}
todo() { exit 3; }

# The kernel's name for the NIC at a PCI address (0000:00:05.0).
# A virtio NIC's interface hangs off its virtio device, below the PCI one.
iface_of() {
  local dir
  for dir in /sys/bus/pci/devices/"$1"/net /sys/bus/pci/devices/"$1"/virtio*/net; do
    if [ -d "$dir" ]; then
      ls "$dir"
      return 0
    fi
  done
  die "no kernel network interface at PCI $1 (is it bound to vfio-pci? the Kubernetes NIC must stay with the kernel)"
}

api_answers() {
  [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1
}

# Whether the API server answers within $1 seconds.
api_answers_within() {
  local end=$((SECONDS + $1))
  until api_answers; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 1
  done
}

# The sha256 of the DER public key of the PEM certificate on stdin: the form of kubeadm's caCertHashes.
ca_key_hash() {
  openssl x509 -pubkey -noout | openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1
}

# The CA a kubeconfig trusts: its certificate-authority-data, or the file its certificate-authority names
# (the kubelet writes either, kubernetes/kubernetes@f77451e4:pkg/kubelet/certificate/bootstrap/bootstrap.go
# writeKubeconfigFromBootstrapping).
kubeconfig_ca() {
  local data file
  data=$(sed -n 's/^[[:space:]]*certificate-authority-data:[[:space:]]*//p' "$1")
  if [ -n "$data" ]; then
    base64 -d <<<"${data%%$'\n'*}"
    return
  fi
  file=$(sed -n 's/^[[:space:]]*certificate-authority:[[:space:]]*//p' "$1")
  [ -n "$file" ] && cat "${file%%$'\n'*}"
}

# kubeadm init completed here, for the CA this node has now.
init_completed() {
  [ -f "$INIT_DONE" ] && [ -f /etc/kubernetes/admin.conf ] && [ -f /etc/kubernetes/manifests/kube-apiserver.yaml ] || return 1
  [ "$(cat "$INIT_DONE")" = "$(ca_key_hash 2>/dev/null </etc/kubernetes/pki/ca.crt)" ]
}

network_unit() {
  printf '# Written by dpdkci: the Kubernetes node network on the NIC at PCI %s.\n[Match]\nPath=pci-%s\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$1" "$1" "$2"
}

check_node_network() {
  local pci=$1 address=$2 iface
  iface=$(iface_of "$pci")
  [ "$(cat "$NETWORK_FILE" 2>/dev/null)" = "$(network_unit "$pci" "$address")" ] || todo
  ip -4 -o addr show dev "$iface" | grep -q " ${address} " || todo
}

apply_node_network() {
  local pci=$1 address=$2 iface
  iface=$(iface_of "$pci")
  network_unit "$pci" "$address" >"$NETWORK_FILE"
  networkctl reload
  networkctl reconfigure "$iface"
  local _
  for _ in $(seq 1 30); do
    ip -4 -o addr show dev "$iface" | grep -q " ${address} " && {
      echo "changed $iface has $address"
      return 0
    }
    sleep 1
  done
  die "$iface did not get $address within 30 s"
}

# A kubeadm init or join that stopped half-way leaves what kubeadm's preflight refuses (manifests, a
# non-empty /var/lib/etcd, ca.crt, a bound port): take it all back before trying again.
reset_partial() {
  rm -f "$INIT_DONE"
  if [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] || [ -e /etc/kubernetes/pki/ca.crt ] || [ -e /etc/kubernetes/kubelet.conf ] || [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; then
    echo "changed reset what an earlier kubeadm left" >&2
    kubeadm reset -f >/var/log/dpdkci-kubeadm-reset.log 2>&1 || die "kubeadm reset failed (log: /var/log/dpdkci-kubeadm-reset.log)"
    rm -rf /etc/cni/net.d/* /var/lib/etcd
  fi
}

apply_init() {
  local wait_s=$1
  mkdir -p /etc/dpdkci
  cat >/etc/dpdkci/kubeadm-init.yaml
  # After a reboot or a kill, a complete control plane comes back by itself: its static pods start once the
  # kubelet does. It is waited for, and never reset: a reset would make a new cluster of a healthy one.
  if init_completed; then
    systemctl is-active --quiet kubelet || systemctl start kubelet
    if api_answers_within "$wait_s"; then
      echo "changed the control plane of the completed kubeadm init answers again (nothing reset)"
      return 0
    fi
    crictl ps -a 2>/dev/null | tail -n 8 >&2 || true
    die "kubeadm init completed on this node ($INIT_DONE), but its API server does not answer within ${wait_s} s; nothing was reset. See journalctl -u kubelet and crictl ps -a here; dpdkci down and up make a new cluster"
  fi
  reset_partial
  # A new control plane has none of the add-ons: their record goes, so that they are applied to it.
  rm -f "$ADDONS/addons.sum"
  kubeadm init --config /etc/dpdkci/kubeadm-init.yaml --skip-token-print >/var/log/dpdkci-kubeadm-init.log 2>&1 || {
    tail -n 30 /var/log/dpdkci-kubeadm-init.log >&2
    die "kubeadm init failed (whole log: /var/log/dpdkci-kubeadm-init.log)"
  }
  local hash=
  # The mark first: an init that exited 0 is complete, and a later up waits for it rather than resetting it.
  if [ -r /etc/kubernetes/pki/ca.crt ]; then
    hash=$(ca_key_hash </etc/kubernetes/pki/ca.crt)
    echo "$hash" >"$INIT_DONE"
  fi
  # kubeadm init itself waits for the control plane; this is a short second look, not a second wait.
  api_answers_within 30 || {
    tail -n 15 /var/log/dpdkci-kubeadm-init.log >&2
    die "kubeadm init exited 0, but the API server does not answer on this node within 30 s"
  }
  [ -n "$hash" ] || die "kubeadm init exited 0 but left no readable /etc/kubernetes/pki/ca.crt"
  echo "changed kubeadm init done (a new cluster CA: sha256:$hash)"
}

ca_hash() {
  local hash
  hash=$(ca_key_hash </etc/kubernetes/pki/ca.crt) || die "this node has no cluster CA (/etc/kubernetes/pki/ca.crt) to hash"
  printf 'sha256:%s\n' "$hash"
}

join_credentials() {
  api_answers || die "the API server on this node does not answer"
  local token
  token=$(kubeadm token create --ttl 1h)
  printf '%s %s\n' "$token" "$(ca_hash)"
}

# Joined: the kubelet has its kubeconfig, trusting the control plane's CA (sha256:HASH, as join-credentials
# prints it: a control plane made anew has another), and runs (a join that died half-way leaves the file
# alone). After a reboot the kubelet may still be starting, so it is given a moment.
joined() {
  local want=$1 have _
  [ -f /etc/kubernetes/kubelet.conf ] || return 1
  have=sha256:$(kubeconfig_ca /etc/kubernetes/kubelet.conf | ca_key_hash) || return 1
  if [ "$have" != "$want" ]; then
    echo "pending kubelet.conf trusts the CA $have, not the control plane's $want"
    return 1
  fi
  for _ in $(seq 1 15); do
    systemctl is-active --quiet kubelet && return 0
    sleep 1
  done
  return 1
}

apply_join() {
  mkdir -p /etc/dpdkci
  cat >/etc/dpdkci/kubeadm-join.yaml
  reset_partial
  kubeadm join --config /etc/dpdkci/kubeadm-join.yaml >/var/log/dpdkci-kubeadm-join.log 2>&1 || {
    tail -n 30 /var/log/dpdkci-kubeadm-join.log >&2
    die "kubeadm join failed (whole log: /var/log/dpdkci-kubeadm-join.log)"
  }
  [ -f /etc/kubernetes/kubelet.conf ] || die "kubeadm join exited 0, but wrote no /etc/kubernetes/kubelet.conf"
  echo "changed kubeadm join done"
}

# Entries of $ADDONS, in name order: NN-NAME/ is a kustomization, rendered and applied by kubectl's built-in
# kustomize (apply -k); NN-NAME.yaml is applied as it is; NN-labels.txt holds "NODE KEY=VALUE..." lines;
# NN-established.txt names CRDs to wait for until the API serves them (a CRD created a moment ago is not
# served yet, and what uses it would fail "no matches for kind").
apply_addons() {
  local sum=$1 f base crd
  api_answers || die "the API server does not answer"
  for f in "$ADDONS"/*; do
    base=$(basename "$f")
    case "$base" in
      [0-9][0-9]-*.yaml) kubectl apply -f "$f" >/dev/null || die "kubectl apply of $base failed" ;;
      [0-9][0-9]-labels.txt)
        while read -r node labels; do
          # shellcheck disable=SC2086 # one word per label
          kubectl label node "$node" --overwrite $labels >/dev/null || die "labelling $node failed"
        done <"$f"
        ;;
      [0-9][0-9]-established.txt)
        while read -r crd; do
          [ -n "$crd" ] || continue
          kubectl wait --for=condition=Established "crd/$crd" --timeout=120s >/dev/null || die "the API does not serve crd/$crd within 120 s"
        done <"$f"
        ;;
      addons.sum) ;;
      *)
        if [ -d "$f" ] && [ -f "$f/kustomization.yaml" ]; then
          kubectl apply -k "$f" >/dev/null || die "kubectl apply -k $base failed"
        else
          die "unexpected entry $base in $ADDONS"
        fi
        ;;
    esac
  done
  echo "$sum" >"$ADDONS/addons.sum"
  echo "changed add-ons applied ($sum)"
}

# The smoke pod's one annotation, or nothing.
pod_annotation() {
  kubectl get pod dpdkci-smoke -o "jsonpath={.metadata.annotations.${1//./\\.}}"
}

smoke() {
  local nad=$1 bridge=$2 socket_dir=$3 timeout=$4 first=$5 last=$6 before port uid mapped
  kubectl wait --for=condition=Ready node --all --timeout="${timeout}s" >/dev/null || die "not every node is Ready after ${timeout}s: $(kubectl get nodes --no-headers | tr '\n' ';')"
  for ds in calico-node kube-multus-ds; do
    kubectl -n kube-system rollout status "daemonset/$ds" --timeout="${timeout}s" >/dev/null || die "daemonset $ds is not Running on every node after ${timeout}s"
  done
  # The userspace CNI plugin is in the node image (built from the pinned source), not deployed.
  CNI_COMMAND=VERSION /opt/cni/bin/userspace </dev/null | grep -q cniVersion || die "/opt/cni/bin/userspace does not answer CNI_COMMAND=VERSION: the node image lacks the userspace CNI plugin"
  before=$(mktemp)
  ovs-vsctl list-ports "$bridge" >"$before"
  kubectl delete pod dpdkci-smoke --ignore-not-found --wait >/dev/null
  kubectl apply -f - >/dev/null
  kubectl wait --for=condition=Ready pod/dpdkci-smoke --timeout="${timeout}s" >/dev/null || die "the smoke pod on $nad is not Ready after ${timeout}s: $(kubectl describe pod dpdkci-smoke | tail -n 15)"
  uid=$(kubectl get pod dpdkci-smoke -o jsonpath='{.metadata.uid}')
  pod_annotation userspace/configuration-data | grep -q . || die "the smoke pod has no userspace/configuration-data annotation: the userspace CNI did not attach $nad (does the NAD's kubeconfig exist on the node?)"
  pod_annotation userspace/configuration-data | "$SMOKE" address "$first" "$last"
  # The plugin writes the mountPath of the container's shared-dir volume there
  # (intel/userspace-cni-network-plugin@3e14ba36:pkg/annotations/annotations.go:115-118).
  mapped=$(pod_annotation userspace/mapped-dir)
  [ "$mapped" = /var/run/vhostuser ] || die "the smoke pod's userspace/mapped-dir is \"$mapped\", not /var/run/vhostuser, where its shared-dir volume is mounted"
  port=$("$SMOKE" port "$bridge" "$socket_dir" "$before")
  rm -f "$before"
  echo "smoke port $port"
  "$SMOKE" verify "$port" "$socket_dir" "$uid"
  "$SMOKE" serve "$port" "$socket_dir" 60
  kubectl delete pod dpdkci-smoke --wait >/dev/null
  # The kubelet runs the CNI DEL as it tears the sandbox down, which may end a moment after the pod is gone.
  local _
  for _ in $(seq 1 15); do
    "$SMOKE" gone "$port" "$socket_dir" "$uid" 2>/dev/null && return 0
    sleep 2
  done
  "$SMOKE" gone "$port" "$socket_dir" "$uid"
}

mode=${1:?usage: kubernetes.sh check|apply|ca-hash|join-credentials|admin-kubeconfig|smoke ...}
case "$mode" in
  check | apply)
    part=${2:?part}
    shift 2
    case "$mode:$part" in
      check:node-network) check_node_network "${1:?PCI}" "${2:?ADDRESS/LEN}" ;;
      apply:node-network) apply_node_network "${1:?PCI}" "${2:?ADDRESS/LEN}" ;;
      check:init) { init_completed && api_answers; } || todo ;;
      apply:init) apply_init "${1:?WAIT_S}" ;;
      check:join) joined "${1:?sha256:HASH}" || todo ;;
      apply:join) apply_join ;;
      check:addons) [ "$(cat "$ADDONS/addons.sum" 2>/dev/null)" = "${1:?SUM}" ] || todo ;;
      apply:addons) apply_addons "${1:?SUM}" ;;
      *) die "unknown part $part" ;;
    esac
    ;;
  ca-hash) ca_hash ;;
  join-credentials) join_credentials ;;
  admin-kubeconfig) cat "$KUBECONFIG" ;;
  smoke) smoke "${2:?NAD}" "${3:?BRIDGE}" "${4:?SOCKET_DIR}" "${5:?TIMEOUT}" "${6:?FIRST}" "${7:?LAST}" ;;
  *) die "unknown command $mode" ;;
esac
