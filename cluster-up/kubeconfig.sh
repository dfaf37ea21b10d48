#!/usr/bin/env bash
# kubevirtci's kubeconfig.sh: prints the path of the cluster's kubeconfig.
set -euo pipefail
# shellcheck source=cluster-up/hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

echo "$KUBEVIRTCI_PROVIDER_CONFIG/.kubeconfig"
