#!/usr/bin/env bash
# kubevirtci's up.sh: brings up the cluster of KUBEVIRT_PROVIDER and writes _ci-configs/<provider>/: its
# kubeconfig and kubectl (with Kubernetes) and config-provider-<provider>.sh. Extra arguments go to `dpdkci up`.
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

  up "$@"

  # As kubevirtci's up.sh does (kubevirt/kubevirtci@39bd4947:cluster-up/up.sh copy_kubeconfig_to_global).
  if [ -n "${GLOBAL_KUBECONFIG:-}" ] && [ -f "$KUBEVIRTCI_PROVIDER_CONFIG/.kubeconfig" ]; then
    echo "copying the kubeconfig to GLOBAL_KUBECONFIG ($GLOBAL_KUBECONFIG)" >&2
    cp "$KUBEVIRTCI_PROVIDER_CONFIG/.kubeconfig" "$GLOBAL_KUBECONFIG"
  fi
  echo "cluster $DPDKCI_PREFIX is up (provider $KUBEVIRT_PROVIDER); config in $KUBEVIRTCI_PROVIDER_CONFIG" >&2
)
