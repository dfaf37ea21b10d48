#!/usr/bin/env bash
# kubevirtci's ssh.sh: ssh.sh NODE [-- COMMAND...], e.g. ssh.sh node01 -- sudo ovs-vsctl show.
#
# The body runs in a subshell: KubeVirt's hack/cluster-up.sh sources these scripts, and its shell keeps
# its own options and variables.
(
  set -euo pipefail
  # shellcheck source=cluster-up/hack/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"
  _dpdkci_provider_ok

  node=${1:?usage: ssh.sh NODE [-- COMMAND...]}
  shift
  [ "${1:-}" = -- ] && shift
  if [ "$#" -gt 0 ]; then
    _dpdkci ssh "$node" -- "$@"
  else
    _dpdkci ssh "$node"
  fi
)
