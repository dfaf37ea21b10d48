#!/bin/bash
# On a node of a cluster with Kubernetes: the parts `dpdkci up` converges, as check/apply pairs like
# dpdk-setup.sh (check exits 0 when the part is in place and 3 when apply has work to do), and the
# commands the host reads from. Files arrive on standard input; the host renders them from manifests/.
#
#   kubernetes.sh check|apply node-network PCI ADDRESS/LEN   the kernel NIC at PCI carries the node address
#   kubernetes.sh check|apply init                          kubeadm init (stdin: the kubeadm configuration)
#   kubernetes.sh join-credentials                          "TOKEN sha256:HASH" for a worker to join with
#   kubernetes.sh check|apply join                          kubeadm join (stdin: the join configuration)
#   kubernetes.sh admin-kubeconfig                          the cluster admin's kubeconfig
#   kubernetes.sh check|apply addons SUM                    apply /etc/dpdkci/addons/*.yaml in order, then
#                                                           the patches and labels in the same directory
#   kubernetes.sh smoke NAD BRIDGE TIMEOUT                  nodes Ready, CNI pods Running, and a pod on
#                                                           the NAD gets a vhost-user port (stdin: the pod)
set -euo pipefail

# Both can be pointed elsewhere, which only the unit test of the add-on parsing does.
export KUBECONFIG=${DPDKCI_KUBECONFIG:-/etc/kubernetes/admin.conf}
ADDONS=${DPDKCI_ADDONS_DIR:-/etc/dpdkci/addons}
NETWORK_FILE=/etc/systemd/network/15-dpdkci-kubernetes.network

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

apply_init() {
  mkdir -p /etc/dpdkci
  cat >/etc/dpdkci/kubeadm-init.yaml
  kubeadm init --config /etc/dpdkci/kubeadm-init.yaml --skip-token-print >/var/log/dpdkci-kubeadm-init.log 2>&1 || {
    tail -n 30 /var/log/dpdkci-kubeadm-init.log >&2
    die "kubeadm init failed (whole log: /var/log/dpdkci-kubeadm-init.log)"
  }
  local _
  # kubeadm init itself waits for the control plane; this is a short second look, not a second wait.
  for _ in $(seq 1 15); do
    api_answers && {
      echo "changed kubeadm init done"
      return 0
    }
    sleep 2
  done
  tail -n 15 /var/log/dpdkci-kubeadm-init.log >&2
  die "kubeadm init exited 0, but the API server does not answer on this node within 30 s"
}

join_credentials() {
  api_answers || die "the API server on this node does not answer"
  local token hash
  token=$(kubeadm token create --ttl 1h)
  hash=$(openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt | openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1)
  printf '%s sha256:%s\n' "$token" "$hash"
}

apply_join() {
  mkdir -p /etc/dpdkci
  cat >/etc/dpdkci/kubeadm-join.yaml
  kubeadm join --config /etc/dpdkci/kubeadm-join.yaml >/var/log/dpdkci-kubeadm-join.log 2>&1 || {
    tail -n 30 /var/log/dpdkci-kubeadm-join.log >&2
    die "kubeadm join failed (whole log: /var/log/dpdkci-kubeadm-join.log)"
  }
  [ -f /etc/kubernetes/kubelet.conf ] || die "kubeadm join exited 0, but wrote no /etc/kubernetes/kubelet.conf"
  echo "changed kubeadm join done"
}

# Files in $ADDONS, in name order: NN-NAME.yaml is applied; NN-patch_NAMESPACE_KIND_NAME.yaml is a
# strategic merge patch of that object (underscores: Kubernetes names never hold one, and namespaces such as
# kube-system hold dashes); NN-labels.txt holds "NODE KEY=VALUE..." lines.
apply_addons() {
  local sum=$1 f base ns kind name
  api_answers || die "the API server does not answer"
  for f in "$ADDONS"/*; do
    base=$(basename "$f")
    case "$base" in
      [0-9][0-9]-patch_*.yaml)
        IFS=_ read -r _ ns kind name <<<"${base%.yaml}"
        kubectl -n "$ns" patch "$kind" "$name" --type strategic --patch-file "$f" >/dev/null || die "patching $kind $ns/$name with $base failed"
        ;;
      [0-9][0-9]-*.yaml) kubectl apply -f "$f" >/dev/null || die "kubectl apply of $base failed" ;;
      [0-9][0-9]-labels.txt)
        while read -r node labels; do
          # shellcheck disable=SC2086 # one word per label
          kubectl label node "$node" --overwrite $labels >/dev/null || die "labelling $node failed"
        done <"$f"
        ;;
      addons.sum) ;;
      *) die "unexpected file $base in $ADDONS" ;;
    esac
  done
  echo "$sum" >"$ADDONS/addons.sum"
  echo "changed add-ons applied ($sum)"
}

smoke() {
  local nad=$1 bridge=$2 timeout=$3 before after
  kubectl wait --for=condition=Ready node --all --timeout="${timeout}s" >/dev/null || die "not every node is Ready after ${timeout}s: $(kubectl get nodes --no-headers | tr '\n' ';')"
  for ds in calico-node kube-multus-ds; do
    kubectl -n kube-system rollout status "daemonset/$ds" --timeout="${timeout}s" >/dev/null || die "daemonset $ds is not Running on every node after ${timeout}s"
  done
  # The userspace CNI plugin is in the node image (built from the pinned source), not deployed.
  CNI_COMMAND=VERSION /opt/cni/bin/userspace </dev/null | grep -q cniVersion || die "/opt/cni/bin/userspace does not answer CNI_COMMAND=VERSION: the node image lacks the userspace CNI plugin"
  before=$(ovs-vsctl list-ports "$bridge" | sort)
  kubectl delete pod dpdkci-smoke --ignore-not-found --wait >/dev/null
  kubectl apply -f - >/dev/null
  kubectl wait --for=condition=Ready pod/dpdkci-smoke --timeout="${timeout}s" >/dev/null || die "the smoke pod on $nad is not Ready after ${timeout}s: $(kubectl describe pod dpdkci-smoke | tail -n 15)"
  kubectl get pod dpdkci-smoke -o jsonpath='{.metadata.annotations.userspace/configuration-data}' | grep -q . || die "the smoke pod has no userspace/configuration-data annotation: the userspace CNI did not attach $nad"
  after=$(ovs-vsctl list-ports "$bridge" | sort)
  [ "$before" != "$after" ] || die "no new port on $bridge for the smoke pod"
  comm -13 <(echo "$before") <(echo "$after") | sed 's/^/smoke port /'
  kubectl delete pod dpdkci-smoke --wait >/dev/null
}

mode=${1:?usage: kubernetes.sh check|apply|join-credentials|admin-kubeconfig|smoke ...}
case "$mode" in
  check | apply)
    part=${2:?part}
    shift 2
    case "$mode:$part" in
      check:node-network) check_node_network "${1:?PCI}" "${2:?ADDRESS/LEN}" ;;
      apply:node-network) apply_node_network "${1:?PCI}" "${2:?ADDRESS/LEN}" ;;
      check:init) api_answers || todo ;;
      apply:init) apply_init ;;
      check:join) [ -f /etc/kubernetes/kubelet.conf ] || todo ;;
      apply:join) apply_join ;;
      check:addons) [ "$(cat "$ADDONS/addons.sum" 2>/dev/null)" = "${1:?SUM}" ] || todo ;;
      apply:addons) apply_addons "${1:?SUM}" ;;
      *) die "unknown part $part" ;;
    esac
    ;;
  join-credentials) join_credentials ;;
  admin-kubeconfig) cat "$KUBECONFIG" ;;
  smoke) smoke "${2:?NAD}" "${3:?BRIDGE}" "${4:?TIMEOUT}" ;;
  *) die "unknown command $mode" ;;
esac
