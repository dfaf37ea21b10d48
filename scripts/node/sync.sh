#!/bin/bash
# On a node: what `dpdkci sync` puts there. Payloads arrive on standard input.
#
#   sync.sh image-digest NAME     the manifest digest containerd (namespace k8s.io) holds for image NAME, or nothing
#   sync.sh image                 import the OCI/Docker image archive on stdin into containerd (k8s.io)
#   sync.sh cni-sum NAME          sha256 of /opt/cni/bin/NAME, or nothing
#   sync.sh cni NAME              install stdin as /opt/cni/bin/NAME, mode 0755, replaced atomically
#   sync.sh manifests             apply the tar of a manifests directory on stdin with kubectl (a kustomization
#                                 when it has kustomization.yaml), printing kubectl's "KIND/NAME OUTCOME" lines
set -euo pipefail

NAMESPACE=k8s.io
# Both pointed elsewhere only by the unit test of record_cni.
CNI_DIR=${DPDKCI_CNI_DIR:-/opt/cni/bin}
RECORD=${DPDKCI_HOST_RECORD_DIR:-/var/lib/dpdkci}

cmd=${1:?usage: sync.sh image-digest|image|cni-sum|cni|manifests ARGS...}
shift

die() {
  printf 'sync %s: %s\n' "$cmd" "$*" >&2
  exit 1
}

# On a machine dpdkci did not boot (provider hosts), what a CNI push changes is recorded, so that `dpdkci
# down` removes the binaries it added and puts back the ones it replaced (host-state.sh undo).
record_cni() {
  local state=$RECORD/host-state backup=$RECORD/cni-backup k8s=$RECORD/kubernetes-state
  [ -f "$state" ] || return 0
  grep -qxF -e "cni_added=$1" -e "cni_replaced=$1" -e "cni_over_kubernetes=$1" "$state" && return 0
  if ! grep -q '^cni_dirs_created=' "$state"; then
    local d created=''
    for d in "$CNI_DIR" "$(dirname "$CNI_DIR")"; do [ -d "$d" ] || created+="$d "; done
    printf 'cni_dirs_created=%s\n' "$created" >>"$state"
  fi
  # Under dpdkci's Kubernetes, down's Kubernetes undo (first) puts back or removes every file that is not
  # the host's own from before it: a copy kept here of the install's or calico's would come back after it.
  if [ -f "$k8s" ] && ! { grep -qxF "entry_had=$CNI_DIR/$1" "$k8s" && ! grep -qxF "replaced=$CNI_DIR/$1" "$k8s"; }; then
    printf 'cni_over_kubernetes=%s\n' "$1" >>"$state"
  elif [ -e "$CNI_DIR/$1" ]; then
    install -d -m 0700 "$backup"
    cp -a -- "$CNI_DIR/$1" "$backup/$1"
    printf 'cni_replaced=%s\n' "$1" >>"$state"
  else
    printf 'cni_added=%s\n' "$1" >>"$state"
  fi
}

# containerd is started by whatever needs it (Kubernetes, or this) rather than at every boot.
ensure_containerd() {
  systemctl is-active --quiet containerd || systemctl start containerd
  local _
  for _ in $(seq 1 30); do
    ctr version >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "containerd did not answer within 30 s"
}

case "$cmd" in
  image-digest)
    name=${1:?image name}
    ensure_containerd
    ctr -n "$NAMESPACE" images ls "name==$name" | awk 'NR > 1 {print $3}'
    ;;
  image)
    ensure_containerd
    tmp=$(mktemp /var/tmp/dpdkci-image.XXXXXX)
    trap 'rm -f "$tmp"' EXIT
    cat >"$tmp"
    ctr -n "$NAMESPACE" images import "$tmp" >&2 || die "ctr could not import the archive"
    ;;
  cni-sum)
    name=${1:?binary name}
    if [ -f "$CNI_DIR/$name" ]; then sha256sum "$CNI_DIR/$name" | cut -d' ' -f1; fi
    ;;
  cni)
    name=${1:?binary name}
    case "$name" in */* | .* | '') die "\"$name\" is not a file name" ;; esac
    record_cni "$name"
    mkdir -p "$CNI_DIR"
    tmp=$(mktemp "$CNI_DIR/.dpdkci-$name.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    cat >"$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$CNI_DIR/$name"
    ;;
  manifests)
    # Pointed elsewhere only by the unit test of this command.
    admin=${DPDKCI_ADMIN_CONF:-/etc/kubernetes/admin.conf}
    [ -f "$admin" ] || die "this node has no $admin: Kubernetes is not up here"
    tmp=$(mktemp -d /var/tmp/dpdkci-manifests.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    tar -xf - -C "$tmp" --no-same-owner
    if [ -f "$tmp/kustomization.yaml" ]; then
      kubectl --kubeconfig "$admin" apply -k "$tmp" || die "kubectl apply -k failed"
    else
      kubectl --kubeconfig "$admin" apply -R -f "$tmp" || die "kubectl apply failed"
    fi
    ;;
  *) die "unknown command" ;;
esac
