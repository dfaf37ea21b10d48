#!/usr/bin/env bash
# kubevirtci's kubeconfig.sh: prints the path of the cluster's kubeconfig.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"
  _dpdkci_provider_ok

  echo "$KUBEVIRTCI_PROVIDER_CONFIG/.kubeconfig"
)
