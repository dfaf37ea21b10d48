#!/usr/bin/env bash
# kubevirtci's up.sh: brings up the cluster of KUBEVIRT_PROVIDER and writes its kubeconfig and kubectl
# wrapper into _ci-configs/<provider>/. Extra arguments go to `dpdkci up`.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

  dpdkci up "$@"

  config=$KUBEVIRTCI_PROVIDER_CONFIG
  # The kubectl wrapper kubevirtci leaves there, as a script that asks dpdkci.
  printf '#!/usr/bin/env bash\nexec %s kubectl --prefix %s -- "$@"\n' "$DPDKCI" "$DPDKCI_PREFIX" >"$config/.kubectl"
  chmod 0755 "$config/.kubectl"
  if [ "$DPDKCI_KUBERNETES" != none ]; then
    (umask 077 && dpdkci kubeconfig >"$config/.kubeconfig")
  else
    rm -f "$config/.kubeconfig"
  fi
  echo "cluster $DPDKCI_PREFIX is up (provider $KUBEVIRT_PROVIDER); config in $config" >&2
)
