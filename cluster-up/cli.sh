#!/usr/bin/env bash
# kubevirtci's cli.sh: any dpdkci command on the cluster of KUBEVIRT_PROVIDER, e.g. cli.sh ports registry.
# `ports` answers ssh, ssh-worker, k8s and registry; kubevirtci's other port names (uploadproxy, vnc, ...)
# exit 1 saying that dpdkci does not forward them.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"
  _dpdkci_provider_ok

  _dpdkci "$@"
)
