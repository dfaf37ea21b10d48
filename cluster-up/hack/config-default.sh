#!/usr/bin/env bash
# kubevirtci's hack/config-default.sh for dpdkci's cluster-up/: what hack/config.sh exports before the
# provider's config-provider-<provider>.sh (written by up.sh) overrides it.
# shellcheck disable=SC2034 # the variables are for the scripts that source hack/config.sh

# As in kubevirt/kubevirtci@39bd4947:cluster-up/hack/config-default.sh.
docker_prefix=${DOCKER_PREFIX:-kubevirt}
# kubevirtci's default is an address of its own VM network; a dpdkci cluster is on 127.0.0.1 (cluster/dpdkci-provider.sh _main_ip).
master_ip=127.0.0.1
# kubevirtci says flannel; dpdkci's clusters run calico (manifests/calico/, src/kubernetes/addons.ts).
network_provider=calico
