#!/usr/bin/env bash
# kubevirtci's kubectl.sh: the cluster's kubectl (_ci-configs/<provider>/.kubectl, written by up.sh) with its
# kubeconfig, through the provider's _kubectl as in kubevirt/kubevirtci@39bd4947:cluster-up/kubectl.sh.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"
  _dpdkci_provider_ok
  # shellcheck source=cluster-up/cluster/dpdkci-provider.sh
  source "$DPDKCI_CLUSTER_UP/cluster/$KUBEVIRT_PROVIDER/provider.sh"

  _kubectl "$@"
)
