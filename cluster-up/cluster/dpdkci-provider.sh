#!/usr/bin/env bash
# What every cluster/<provider>/provider.sh is: the functions kubevirtci's providers define
# (kubevirt/kubevirtci@39bd4947:cluster-up/cluster/ephemeral-provider-common.sh, k8s-provider-common.sh),
# done with dpdkci instead of gocli, docker or podman. KubeVirt sources provider.sh in its own shell and then
# calls _kubectl (kubevirt/kubevirt@d923fdb8:hack/cluster-deploy.sh, hack/cluster-clean.sh), so the functions
# are defined there; this file sets no shell options and runs nothing. up, down and prepare_config run in
# subshells of their own (their bodies are ( ... )), so the caller keeps its options and variables.
#
#   up [ARGS]        dpdkci up ARGS; with Kubernetes, .kubeconfig, .kubectl (the pinned kubectl) and the
#                    worker label; then prepare_config
#   down [ARGS]      dpdkci down ARGS, and removes what up wrote into _ci-configs/<provider>/
#   prepare_config   writes _ci-configs/<provider>/config-provider-<provider>.sh, which hack/config.sh sources
#   _kubectl ARGS    the cluster's kubectl with its kubeconfig (KUBECONFIG exported, as kubevirtci does)
#   _main_ip         127.0.0.1, where dpdkci forwards every port
#   _port NAME       dpdkci ports NAME (ssh, ssh-worker, k8s, registry; kubevirtci's other names fail, saying so)

# Sourced alone (KubeVirt sources hack/common.sh first, which sources ours): the variables first.
if ! declare -F _dpdkci >/dev/null; then
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../hack/common.sh"
fi

_main_ip() {
  # Every port of a dpdkci cluster is forwarded on 127.0.0.1 (providers/qemu/qemu-args.ts, hostfwd), and the
  # API server's certificate names it (manifests/kubeadm/init.yaml.hbs certSANs).
  echo 127.0.0.1
}

_port() {
  _dpdkci ports "$@"
}

_kubectl() {
  local dir=${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}
  if [ ! -x "$dir/.kubectl" ]; then
    echo "_kubectl: no $dir/.kubectl: the cluster has no Kubernetes (KUBEVIRT_PROVIDER=$KUBEVIRT_PROVIDER, DPDKCI_KUBERNETES=${DPDKCI_KUBERNETES:-}), or it was not brought up with cluster-up/up.sh" >&2
    return 1
  fi
  # Exported, as kubevirtci's _kubectl does (kubevirt/kubevirtci@39bd4947:cluster-up/cluster/ephemeral-provider-common.sh).
  export KUBECONFIG=$dir/.kubeconfig
  "$dir/.kubectl" "$@"
}

# The Kubernetes version the cluster runs, or none: what dpdkci recorded (DPDKCI_KUBERNETES may be auto).
_dpdkci_cluster_kubernetes() {
  local status
  status=$(_dpdkci status -o json)
  if [[ $status =~ \"kubernetes\":\ *\"([^\"]*)\" ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    echo "dpdkci status -o json names no Kubernetes version for cluster $DPDKCI_PREFIX" >&2
    return 1
  fi
}

up() (
  set -euo pipefail
  shopt -s inherit_errexit
  dir=${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}
  _dpdkci up "$@"

  kubernetes=$(_dpdkci_cluster_kubernetes)
  if [ "$kubernetes" != none ]; then
    (umask 077 && _dpdkci kubeconfig >"$dir/.kubeconfig.tmp")
    mv -f "$dir/.kubeconfig.tmp" "$dir/.kubeconfig"
    # A real kubectl, as kubevirtci copies the node's (kubevirt/kubevirtci@39bd4947:cluster-up/cluster/k8s-provider-common.sh):
    # the one the lock pins for the cluster's version, which its nodes run too. Copied, not linked: KubeVirt's
    # dockerized builds get _ci-configs/ by rsync (kubevirt/kubevirt@d923fdb8:hack/dockerized).
    binary=$(_dpdkci kubectl --binary)
    if ! cmp -s "$binary" "$dir/.kubectl"; then
      cp "$binary" "$dir/.kubectl.tmp"
      chmod 0755 "$dir/.kubectl.tmp"
      mv -f "$dir/.kubectl.tmp" "$dir/.kubectl"
    fi
    # Workers get kubevirtci's worker role; a single node is the control plane and the worker
    # (kubevirt/kubevirtci@39bd4947:cluster-up/cluster/k8s-provider-common.sh, up).
    selector=node-role.kubernetes.io/control-plane
    if [ "${KUBEVIRT_NUM_NODES:-1}" -gt 1 ]; then selector="!node-role.kubernetes.io/control-plane"; fi
    _kubectl label node -l "$selector" node-role.kubernetes.io/worker= --overwrite
  else
    rm -f "$dir/.kubeconfig" "$dir/.kubectl"
  fi
  prepare_config
)

down() (
  set -euo pipefail
  shopt -s inherit_errexit
  dir=${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}
  _dpdkci down "$@"
  rm -f "$dir/.kubeconfig" "$dir/.kubectl" "$dir/config-provider-${KUBEVIRT_PROVIDER}.sh"
)

# The values kubevirtci's prepare_config writes (kubevirt/kubevirtci@39bd4947:cluster-up/cluster/ephemeral-provider-common.sh),
# for this cluster: kubeconfig and kubectl only with Kubernetes, the registry lines only with a registry.
prepare_config() (
  set -euo pipefail
  shopt -s inherit_errexit
  dir=${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}
  file=$dir/config-provider-${KUBEVIRT_PROVIDER}.sh
  registry=
  case "$(printf '%s' "${DPDKCI_REGISTRY:-true}" | tr '[:upper:]' '[:lower:]')" in
    false | 0 | no | off) ;;
    *) registry=$(_port registry) ;;
  esac
  {
    echo "# Written by dpdkci's cluster-up/ for cluster $DPDKCI_PREFIX (KUBEVIRT_PROVIDER=$KUBEVIRT_PROVIDER); down.sh removes it."
    printf 'master_ip=%s\n' "$(_main_ip)"
    if [ -x "$dir/.kubectl" ] && [ -f "$dir/.kubeconfig" ]; then
      printf 'kubeconfig=%q\n' "$dir/.kubeconfig"
      printf 'kubectl=%q\n' "$dir/.kubectl"
    else
      echo "# no kubeconfig or kubectl: the cluster has no Kubernetes"
    fi
    printf 'gocli=%q\n' "${KUBEVIRTCI_PATH%/}/cli.sh"
    if [ -n "$registry" ]; then
      # The host pushes to the registry's forwarded port; the nodes pull the same images as registry:5000
      # (providers/qemu/registry.ts), the name kubevirtci's manifests use too.
      # shellcheck disable=SC2016 # ${DOCKER_PREFIX...} is written as it is, for config.sh to expand
      printf 'docker_prefix=${DOCKER_PREFIX:-localhost:%s/kubevirt}\n' "$registry"
      # shellcheck disable=SC2016
      printf 'manifest_docker_prefix=${DOCKER_PREFIX:-registry:5000/kubevirt}\n'
    else
      echo "# no docker_prefix: the cluster runs no registry (DPDKCI_REGISTRY=${DPDKCI_REGISTRY:-})"
    fi
  } >"$file.tmp"
  mv -f "$file.tmp" "$file"
)
