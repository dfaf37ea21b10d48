#!/usr/bin/env bash
# kubevirtci's cli.sh: any dpdkci command on the cluster of KUBEVIRT_PROVIDER, e.g. cli.sh ports ssh.
set -euo pipefail
# shellcheck source=cluster-up/hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

dpdkci "$@"
