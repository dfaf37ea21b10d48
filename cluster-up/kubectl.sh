#!/usr/bin/env bash
# kubevirtci's kubectl.sh: kubectl against the cluster of KUBEVIRT_PROVIDER.
set -euo pipefail
# shellcheck source=cluster-up/hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/hack/common.sh"

dpdkci kubectl "$@"
