#!/bin/bash
# Runs on every node boot (dpdkci-seed.service), before sshd.
# Reads the per-node seed that dpdkci passes with QEMU's -fw_cfg and installs it:
#   opt/dpdkci/hostname                   the node name
#   opt/dpdkci/ssh_host_ed25519_key(.pub) the node's SSH host key, generated and pinned on the host
#   opt/dpdkci/authorized_keys            the cluster's public key for root
#   opt/dpdkci/registry                   (optional) the host port of the cluster's registry, which
#                                         containerd then pulls as registry:5000 from 10.0.2.2 (the host)
# Under TCG every process started costs boot time, so this uses shell builtins where it can.
set -euo pipefail

fwcfg=/sys/firmware/qemu_fw_cfg/by_name/opt/dpdkci
if [ ! -d "$fwcfg" ]; then
  modprobe qemu_fw_cfg
fi
if [ ! -d "$fwcfg" ]; then
  echo "dpdkci-seed: no seed in fw_cfg ($fwcfg); was this node started by dpdkci?" >&2
  exit 1
fi

hostname=$(<"$fwcfg/hostname/raw")
hostname=${hostname%%[[:space:]]*}
printf '%s\n' "$hostname" >/etc/hostname
printf '%s' "$hostname" >/proc/sys/kernel/hostname
hosts=$(</etc/hosts)
if [[ $'\n'$hosts$'\n' != *[[:space:]]"$hostname"$'\n'* ]]; then
  printf '127.0.1.1\t%s\n' "$hostname" >>/etc/hosts
fi

umask 0077
mkdir -p /root/.ssh
cp "$fwcfg/ssh_host_ed25519_key/raw" /etc/ssh/ssh_host_ed25519_key
cp "$fwcfg/authorized_keys/raw" /root/.ssh/authorized_keys
umask 0022
cp "$fwcfg/ssh_host_ed25519_key.pub/raw" /etc/ssh/ssh_host_ed25519_key.pub

certs=/etc/containerd/certs.d/registry:5000
if [ -e "$fwcfg/registry/raw" ]; then
  port=$(<"$fwcfg/registry/raw")
  port=${port%%[[:space:]]*}
  if [[ ! $port =~ ^[0-9]{1,5}$ ]]; then
    echo "dpdkci-seed: the registry seed \"$port\" is not a port number" >&2
    exit 1
  fi
  mkdir -p "$certs"
  printf '%s\n' \
    '# Written at boot by dpdkci-seed: the cluster registry runs on the host, reached through QEMU'"'"'s user network.' \
    'server = "http://registry:5000"' \
    '' \
    "[host.\"http://10.0.2.2:$port\"]" \
    '  capabilities = ["pull", "resolve"]' >"$certs/hosts.toml"
else
  rm -rf "$certs"
fi
