#!/usr/bin/env bash
# Sourced by the scripts of cluster-up/: kubevirtci's variables and the dpdkci command, so that a KubeVirt
# checkout can use this directory in place of kubevirtci's cluster-up/ (see the README).
#
# KUBEVIRT_PROVIDER   k8s-1.NN-dpdk: Kubernetes 1.NN on OVS-DPDK nodes; dpdk: the OVS-DPDK nodes alone
# KUBEVIRT_NUM_NODES, KUBEVIRT_MEMORY_SIZE, KUBEVIRT_NUM_VCPU, KUBEVIRT_HUGEPAGES_2M,
# KUBEVIRT_NUM_SECONDARY_NICS   read by dpdkci itself, as its --nodes, --memory, --cpu, ... defaults
# KUBEVIRT_WITH_MULTUS          always on with DPDK (the userspace CNI is a multus network)
# KUBEVIRTCI_CONFIG_PATH        where _ci-configs/<provider>/ (kubeconfig, kubectl wrapper) is written
# JOB_NAME, EXECUTOR_NUMBER     as in kubevirtci: they name the cluster, so parallel CI jobs do not meet
# DPDKCI                        the dpdkci command (default: this checkout's bin/dpdkci.js, else dpdkci on PATH)

if [ -z "${KUBEVIRTCI_PATH:-}" ]; then
  KUBEVIRTCI_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/"
fi
DPDKCI_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
if [ -z "${KUBEVIRTCI_CONFIG_PATH:-}" ]; then
  KUBEVIRTCI_CONFIG_PATH="$(cd "${KUBEVIRTCI_PATH}.." && pwd)/_ci-configs"
fi

export KUBEVIRT_PROVIDER=${KUBEVIRT_PROVIDER:-dpdk}
export KUBEVIRT_NUM_NODES=${KUBEVIRT_NUM_NODES:-1}
export KUBEVIRT_WITH_MULTUS=${KUBEVIRT_WITH_MULTUS:-true}

case "$KUBEVIRT_PROVIDER" in
  k8s-[0-9]*.[0-9]*-dpdk)
    kubernetes_version=${KUBEVIRT_PROVIDER#k8s-}
    kubernetes_version=${kubernetes_version%-dpdk}
    ;;
  dpdk) kubernetes_version=none ;;
  *)
    echo "KUBEVIRT_PROVIDER: \"$KUBEVIRT_PROVIDER\" is not a dpdkci provider; use k8s-1.NN-dpdk (Kubernetes on OVS-DPDK nodes) or dpdk (the nodes alone)" >&2
    exit 2
    ;;
esac
# DPDKCI_KUBERNETES wins over the provider's version (e.g. none, for the nodes without Kubernetes).
export DPDKCI_KUBERNETES=${DPDKCI_KUBERNETES:-$kubernetes_version}
export DPDKCI_DPDK=true

if [ "${KUBEVIRT_WITH_MULTUS}" != true ] && [ "$DPDKCI_KUBERNETES" != none ]; then
  echo "note: KUBEVIRT_WITH_MULTUS=${KUBEVIRT_WITH_MULTUS} is ignored: with DPDK, multus always runs (the vhost-user network is a multus network)" >&2
fi

# kubevirtci's naming: one cluster per job and executor, else per provider. dpdkci prefixes are 1-24 of
# [a-z0-9-]; anything else becomes a dash.
provider_prefix=${JOB_NAME:-${KUBEVIRT_PROVIDER}}${EXECUTOR_NUMBER:-}
provider_prefix=$(printf '%s' "$provider_prefix" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9-' '-' | cut -c1-24)
export DPDKCI_PREFIX=${DPDKCI_PREFIX:-$provider_prefix}

KUBEVIRTCI_PROVIDER_CONFIG="${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}"
mkdir -p "$KUBEVIRTCI_PROVIDER_CONFIG"

if [ -z "${DPDKCI:-}" ]; then
  if [ -f "$DPDKCI_ROOT/bin/dpdkci.js" ]; then
    DPDKCI="node $DPDKCI_ROOT/bin/dpdkci.js"
  else
    DPDKCI=dpdkci
  fi
fi

# dpdkci ARGS...: the CLI, on this cluster.
dpdkci() {
  # shellcheck disable=SC2086 # DPDKCI is a command line ("node /path/bin/dpdkci.js")
  $DPDKCI "$@"
}
