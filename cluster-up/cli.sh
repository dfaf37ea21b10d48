#!/usr/bin/env bash
# kubevirtci's cli.sh: any dpdkci command on the cluster of KUBEVIRT_PROVIDER, e.g. cli.sh ports ssh.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

  dpdkci "$@"
)
