#!/usr/bin/env bash
# kubevirtci's hack/config.sh for dpdkci's cluster-up/, with its semantics
# (kubevirt/kubevirtci@39bd4947:cluster-up/hack/config.sh): the defaults of config-default.sh, then the
# provider's _ci-configs/<provider>/config-provider-<provider>.sh when up.sh has written one, and the same
# five variables exported (kubectl, gocli and whatever else the provider file sets are not). KubeVirt's
# hack/config.sh sources it in its own shell, after hack/common.sh (kubevirt/kubevirt@d923fdb8:hack/config.sh);
# it sets no shell options.

unset docker_prefix master_ip network_provider kubeconfig manifest_docker_prefix

KUBEVIRT_PROVIDER=${KUBEVIRT_PROVIDER:-${PROVIDER:-}}

# shellcheck source=cluster-up/hack/config-default.sh
source "$(dirname "${BASH_SOURCE[0]}")/config-default.sh"

if [ -f "${KUBEVIRTCI_CONFIG_PATH:-}/${KUBEVIRT_PROVIDER}/config-provider-${KUBEVIRT_PROVIDER}.sh" ]; then
  # shellcheck source=/dev/null # written by up.sh (cluster/dpdkci-provider.sh prepare_config)
  source "${KUBEVIRTCI_CONFIG_PATH:-}/${KUBEVIRT_PROVIDER}/config-provider-${KUBEVIRT_PROVIDER}.sh"
fi

export docker_prefix master_ip network_provider kubeconfig manifest_docker_prefix
