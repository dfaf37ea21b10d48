#!/bin/bash
# Runs on every node boot (dpdkci-seed.service), before sshd and networkd.
# Reads the per-node seed that dpdkci passes with QEMU's -fw_cfg and installs it:
#   opt/dpdkci/hostname                   the node name
#   opt/dpdkci/ssh_host_ed25519_key(.pub) the node's SSH host key, generated and pinned on the host
#   opt/dpdkci/authorized_keys            the cluster's public key for root
set -euo pipefail

fwcfg=/sys/firmware/qemu_fw_cfg/by_name/opt/dpdkci
if [ ! -d "$fwcfg" ]; then
  modprobe qemu_fw_cfg
fi
if [ ! -d "$fwcfg" ]; then
  echo "dpdkci-seed: no seed in fw_cfg ($fwcfg); was this node started by dpdkci?" >&2
  exit 1
fi

# install_entry NAME DEST MODE
install_entry() {
  local tmp
  tmp=$(mktemp "$2.XXXXXX")
  cat "$fwcfg/$1/raw" >"$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}

hostname=$(cat "$fwcfg/hostname/raw")
printf '%s\n' "$hostname" >/etc/hostname
hostname "$hostname"
if ! grep -q "[[:space:]]$hostname\$" /etc/hosts; then
  printf '127.0.1.1\t%s\n' "$hostname" >>/etc/hosts
fi

install_entry ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key 0600
install_entry ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub 0644
install -d -m 0700 /root/.ssh
install_entry authorized_keys /root/.ssh/authorized_keys 0600
