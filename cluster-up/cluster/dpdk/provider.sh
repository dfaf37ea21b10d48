#!/usr/bin/env bash
# KUBEVIRT_PROVIDER=dpdk: the OVS-DPDK nodes alone, without Kubernetes (DPDKCI_KUBERNETES=none, set by hack/common.sh).
# shellcheck source=cluster-up/cluster/dpdkci-provider.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dpdkci-provider.sh"
