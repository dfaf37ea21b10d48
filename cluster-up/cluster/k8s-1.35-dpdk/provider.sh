#!/usr/bin/env bash
# KUBEVIRT_PROVIDER=k8s-1.35-dpdk: Kubernetes 1.35 on OVS-DPDK nodes (hack/common.sh reads the version from the name).
# shellcheck source=cluster-up/cluster/dpdkci-provider.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dpdkci-provider.sh"
