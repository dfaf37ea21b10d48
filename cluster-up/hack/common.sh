#!/usr/bin/env bash
# kubevirtci's hack/common.sh for dpdkci's cluster-up/: the variables, and the dpdkci command. The scripts
# of cluster-up/ source it in their subshells; KubeVirt's hack/common.sh sources it in its own shell
# (kubevirt/kubevirt@d923fdb8:hack/common.sh), so it sets no shell options, runs nothing but mkdir, works
# with or without set -u, and never exits: with another provider it warns and returns.
#
# KUBEVIRT_PROVIDER   k8s-1.NN or k8s-1.NN-dpdk: Kubernetes 1.NN on OVS-DPDK nodes; dpdk: the OVS-DPDK nodes
#                     alone. One directory per provider under cluster/ (each a provider.sh); default k8s-1.36
# KUBEVIRT_NUM_NODES, KUBEVIRT_MEMORY_SIZE, KUBEVIRT_NUM_VCPU, KUBEVIRT_HUGEPAGES_2M,
# KUBEVIRT_NUM_SECONDARY_NICS   read by dpdkci itself, as its --nodes, --memory, --cpu, ... defaults
# KUBEVIRT_WITH_MULTUS          always on with DPDK (the userspace CNI is a multus network)
# KUBEVIRTCI_CONFIG_PATH        where _ci-configs/<provider>/ (kubeconfig, kubectl, config-provider-*.sh) is written
# KUBEVIRT_DEPLOY_CDI           always false: dpdkci deploys no CDI (below)
# JOB_NAME, EXECUTOR_NUMBER     name the cluster, so parallel CI jobs do not meet (and job_prefix, as in kubevirtci)
# DPDKCI_KUBERNETES             wins over the provider's version (none: the nodes without Kubernetes)
# DPDKCI                        the dpdkci command (default: this checkout's bin/dpdkci.js, else dpdkci on PATH)

# Where kubevirtci's own common.sh puts them (kubevirt/kubevirtci@39bd4947:cluster-up/hack/common.sh): the
# directory above this one with a trailing /, and _ci-configs beside it, exported.
if [ -z "${KUBEVIRTCI_PATH:-}" ]; then
  KUBEVIRTCI_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/"
fi
if [ -z "${KUBEVIRTCI_CONFIG_PATH:-}" ]; then
  KUBEVIRTCI_CONFIG_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/_ci-configs"
fi
export KUBEVIRTCI_CONFIG_PATH
KUBEVIRTCI_CLUSTER_PATH=${KUBEVIRTCI_CLUSTER_PATH:-${KUBEVIRTCI_PATH}/cluster}
# This cluster-up/ (through any symlink) and the dpdkci checkout it belongs to.
DPDKCI_CLUSTER_UP=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
DPDKCI_ROOT=$(cd "$DPDKCI_CLUSTER_UP/.." && pwd)

# kubevirtci's default provider (kubevirt/kubevirtci@39bd4947:cluster-up/hack/common.sh, exported there too).
export KUBEVIRT_PROVIDER=${KUBEVIRT_PROVIDER:-k8s-1.36}
export KUBEVIRT_NUM_NODES=${KUBEVIRT_NUM_NODES:-1}
export KUBEVIRT_WITH_MULTUS=${KUBEVIRT_WITH_MULTUS:-true}
# KUBEVIRT_NUM_VCPU=6, KUBEVIRT_MEMORY_SIZE=5120M and KUBEVIRT_NUM_SECONDARY_NICS=0 are kubevirtci's defaults
# (same file); dpdkci itself has them with Kubernetes (src/core/config.ts KUBERNETES_DEFAULTS, OPTION_SPECS),
# and its smaller node sizes without, so they are not set here.

# _dpdkci_provider_ok: fails (2), naming the accepted providers, when KUBEVIRT_PROVIDER is not one of
# dpdkci's; cluster-up/'s own scripts call it first. Sourcing never fails: KubeVirt's hack/common.sh sources
# this file in the shell of every build script, often under set -e, for whatever provider it is given.
_dpdkci_provider_ok() {
  if [ -n "${DPDKCI_PROVIDER_ERROR:-}" ]; then
    echo "$DPDKCI_PROVIDER_ERROR" >&2
    return 2
  fi
}

# A provider is a directory of cluster/ (KubeVirt sources cluster/$KUBEVIRT_PROVIDER/provider.sh).
DPDKCI_PROVIDER_ERROR=
dpdkci_kubernetes=
case "$KUBEVIRT_PROVIDER" in
  dpdk) dpdkci_kubernetes=none ;;
  k8s-1.[0-9]* | k8s-1.[0-9]*-dpdk)
    dpdkci_kubernetes=${KUBEVIRT_PROVIDER#k8s-}
    dpdkci_kubernetes=${dpdkci_kubernetes%-dpdk}
    ;;
esac
if [ -z "$dpdkci_kubernetes" ] || [ ! -f "$DPDKCI_CLUSTER_UP/cluster/$KUBEVIRT_PROVIDER/provider.sh" ]; then
  DPDKCI_PROVIDER_ERROR="KUBEVIRT_PROVIDER: \"$KUBEVIRT_PROVIDER\" is not a dpdkci provider; use one of $(cd "$DPDKCI_CLUSTER_UP/cluster" && for p in */provider.sh; do echo "${p%/provider.sh}"; done | LC_ALL=C sort | paste -sd ' ') (k8s-1.NN and k8s-1.NN-dpdk: Kubernetes 1.NN on OVS-DPDK nodes; dpdk: the nodes alone)"
  echo "warning: $DPDKCI_PROVIDER_ERROR; dpdkci's variables are left unset" >&2
  unset dpdkci_kubernetes
  return 0
fi
export DPDKCI_KUBERNETES=${DPDKCI_KUBERNETES:-$dpdkci_kubernetes}
unset dpdkci_kubernetes
export DPDKCI_DPDK=true

# CDI: kubevirtci's k8s providers deploy it when asked (gocli --deploy-cdi,
# kubevirt/kubevirtci@39bd4947:cluster-up/cluster/ephemeral-provider-common.sh), and KubeVirt asks by default:
# hack/cluster-up.sh and cluster-deploy.sh set KUBEVIRT_DEPLOY_CDI=${KUBEVIRT_DEPLOY_CDI:-true} before they
# source this file (kubevirt/kubevirt@d923fdb8). dpdkci deploys no CDI, so false, whatever was given: what
# cluster-deploy.sh itself decides for kind, external and minikube (no CDI testing manifests, no cdi patch).
if [ "${KUBEVIRT_DEPLOY_CDI:-false}" != false ]; then
  echo "note: KUBEVIRT_DEPLOY_CDI=${KUBEVIRT_DEPLOY_CDI} is taken as false: dpdkci deploys no CDI" >&2
fi
export KUBEVIRT_DEPLOY_CDI=false

if [ "${KUBEVIRT_WITH_MULTUS}" != true ] && [ "$DPDKCI_KUBERNETES" != none ]; then
  echo "note: KUBEVIRT_WITH_MULTUS=${KUBEVIRT_WITH_MULTUS} is ignored: with DPDK, multus always runs (the vhost-user network is a multus network)" >&2
fi

# kubevirtci's names (same file): provider_prefix names its containers, job_prefix what a job builds
# (KubeVirt's hack/dockerized names its builder after it). dpdkci's cluster is named by the job and executor,
# else the provider; dpdkci prefixes are 1-24 of [a-z0-9-], anything else becomes a dash.
# shellcheck disable=SC2034 # for KubeVirt's scripts
provider_prefix=${KUBEVIRT_PROVIDER}
# shellcheck disable=SC2034
job_prefix=${JOB_NAME:-kubevirt}${EXECUTOR_NUMBER:-}
if [ -z "${DPDKCI_PREFIX:-}" ]; then
  DPDKCI_PREFIX=$(printf '%s' "${JOB_NAME:-${KUBEVIRT_PROVIDER}}${EXECUTOR_NUMBER:-}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9-' '-' | cut -c1-24)
fi
export DPDKCI_PREFIX

KUBEVIRTCI_PROVIDER_CONFIG="${KUBEVIRTCI_CONFIG_PATH}/${KUBEVIRT_PROVIDER}"
mkdir -p "$KUBEVIRTCI_PROVIDER_CONFIG"

if [ -z "${DPDKCI:-}" ]; then
  if [ -f "$DPDKCI_ROOT/bin/dpdkci.js" ]; then
    DPDKCI="node $DPDKCI_ROOT/bin/dpdkci.js"
  else
    DPDKCI=dpdkci
  fi
fi

# _dpdkci ARGS...: the CLI, on this cluster (DPDKCI_PREFIX).
_dpdkci() {
  # shellcheck disable=SC2086 # DPDKCI is a command line ("node /path/bin/dpdkci.js")
  $DPDKCI "$@"
}
