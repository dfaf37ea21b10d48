#!/bin/bash
# On a node of a cluster with Kubernetes: one CNI configuration file of this node's own, which thin multus
# reads for a NetworkAttachmentDefinition without a spec (the host renders it; see
# src/kubernetes/vhostuser-network.ts for where multus looks and why each node has its own).
#
#   cni-netconf.sh check FILE < TEXT   exit 0 when FILE holds TEXT, 3 when apply has work
#   cni-netconf.sh apply FILE < TEXT   write TEXT to FILE (mode 0644), whole or not at all
set -euo pipefail

die() {
  printf 'cni-netconf: %s\n' "$*" >&2
  exit 1
}

mode=${1:?usage: cni-netconf.sh check|apply FILE}
file=${2:?usage: cni-netconf.sh check|apply FILE}
case "$file" in
  /*.conf) ;;
  *) die "$file is not an absolute path of a .conf file" ;;
esac

case "$mode" in
  check)
    [ -f "$file" ] || exit 3
    cmp -s - "$file" || exit 3
    ;;
  apply)
    dir=$(dirname "$file")
    install -d -m 0755 "$dir"
    # multus parses every .conf/.json/.conflist of the directory and stops at one that does not parse:
    # the text is written under a name it skips, then renamed into place.
    tmp=$(mktemp "$dir/.dpdkci-netconf.XXXXXX.tmp")
    cat >"$tmp"
    [ -s "$tmp" ] || {
      rm -f "$tmp"
      die "no configuration on standard input for $file"
    }
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
    echo "changed $file"
    ;;
  *) die "unknown mode $mode" ;;
esac
