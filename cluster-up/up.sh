#!/usr/bin/env bash
# kubevirtci's up.sh: brings up the cluster of KUBEVIRT_PROVIDER and writes its kubeconfig and kubectl
# wrapper into _ci-configs/<provider>/. Extra arguments go to `dpdkci up`.
set -euo pipefail
# shellcheck source=cluster-up/hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

dpdkci up "$@"

config=$KUBEVIRTCI_PROVIDER_CONFIG
# The kubectl wrapper kubevirtci leaves there, as a script that asks dpdkci.
cat >"$config/.kubectl" <<WRAPPER
#!/usr/bin/env bash
exec $DPDKCI kubectl --prefix $DPDKCI_PREFIX "\$@"
WRAPPER
chmod 0755 "$config/.kubectl"
if [ "$DPDKCI_KUBERNETES" != none ]; then
  (umask 077 && dpdkci kubeconfig >"$config/.kubeconfig")
else
  rm -f "$config/.kubeconfig"
fi
echo "cluster $DPDKCI_PREFIX is up (provider $KUBEVIRT_PROVIDER); config in $config" >&2
