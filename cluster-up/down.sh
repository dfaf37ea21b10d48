#!/usr/bin/env bash
# kubevirtci's down.sh: removes the cluster of KUBEVIRT_PROVIDER and its _ci-configs entry.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

  dpdkci down "$@"
  rm -f "$KUBEVIRTCI_PROVIDER_CONFIG/.kubeconfig" "$KUBEVIRTCI_PROVIDER_CONFIG/.kubectl"
)
