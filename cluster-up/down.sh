#!/usr/bin/env bash
# kubevirtci's down.sh: removes the cluster of KUBEVIRT_PROVIDER and what up.sh wrote into _ci-configs/<provider>/.
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

  down "$@"
)
