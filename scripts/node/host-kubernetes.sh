#!/bin/bash
# On a machine dpdkci did not boot (provider hosts) with --kubernetes: records what the host had in the places
# dpdkci's Kubernetes writes to, before install-kubernetes.sh runs there, and takes it all away on `down`.
# The record is /var/lib/dpdkci/kubernetes-state (key=value, 0600); files it replaces are kept beside it.
#
#   host-kubernetes.sh check|apply record PREFIX FILE...   (FILE: what the install copies over /)
#   host-kubernetes.sh check installed KEY                  (exit 0 when the install KEY is in place)
#   host-kubernetes.sh apply installed KEY < FILES          (after the install: each file it put in place)
#   host-kubernetes.sh undo PREFIX                          (prints "restored <what>" and "kept <what>" lines)
#
# check exits 0 when there is nothing to do and 3 (printing "pending <what>") when apply has work.
set -euo pipefail

mode=${1:?usage: host-kubernetes.sh check|apply|undo PART ARGS...}
shift
dir=/var/lib/dpdkci
state=$dir/kubernetes-state
backup=$dir/kubernetes-backup

# Every place the pinned containerd, the kubelet, kubeadm, calico, multus and the userspace CNI write to.
PLACES=(/etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/containerd /var/lib/containerd /run/containerd
  /etc/cni/net.d /opt/cni/bin /var/lib/cni /var/lib/calico /run/calico /var/log/calico /var/log/pods
  /var/log/containers /etc/dpdkci)
SYSCTLS=(net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward)
MODULES=(overlay br_netfilter)
WANTS=/etc/systemd/system/multi-user.target.wants

die() {
  printf 'host-kubernetes: %s\n' "$*" >&2
  exit 1
}

want() {
  if [ "$mode" = check ]; then
    printf 'pending %s\n' "$*"
    exit 3
  fi
  printf 'changed %s\n' "$*"
}

all() {
  [ -r "$state" ] || return 0
  awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print }' "$state"
}
get() { all "$1" | head -n 1; }
put() { printf '%s=%s\n' "$1" "$2" >>"$state"; }
said() { printf '%s %s\n' "$1" "$2"; }

part_record() {
  local prefix=$1 file place key name
  shift
  if [ -r "$state" ]; then
    [ "$(get prefix)" = "$prefix" ] || die "this host's Kubernetes is recorded for cluster \"$(get prefix)\"; dpdkci down --prefix $(get prefix) first"
    return 0
  fi
  want "record of what this host had where Kubernetes goes ($state)"
  install -d -m 0700 "$dir"
  umask 077
  : >"$state.partial"
  state=$state.partial
  put prefix "$prefix"
  for place in "${PLACES[@]}"; do
    if [ -e "$place" ]; then put had "$place"; fi
  done
  if [ -d /opt/cni/bin ]; then
    for name in /opt/cni/bin/*; do
      if [ -e "$name" ]; then put cni_had "$(basename "$name")"; fi
    done
  fi
  # A file the install copies over / that is already there is kept, to be put back.
  for file in "$@"; do
    put target "$file"
    if [ -e "$file" ]; then
      install -D -m 0600 "$file" "$backup$file"
      put replaced "$file"
    fi
  done
  for key in "${SYSCTLS[@]}"; do
    put "sysctl:$key" "$(sysctl -n "$key" 2>/dev/null || echo absent)"
  done
  for name in "${MODULES[@]}"; do
    if [ -d "/sys/module/$name" ]; then put module_had "$name"; fi
  done
  # The install makes both start at boot; a containerd package may have done so already.
  for name in containerd.service kubelet.service; do
    if [ -e "$WANTS/$name" ]; then put wants_had "$name"; fi
  done
  mv "$state" "${state%.partial}"
}

part_installed() {
  local key=$1 path
  shift
  [ -r "$state" ] && [ "$(get key)" = "$key" ] && return 0
  [ -r "$state" ] || [ "$mode" = check ] || die "no record of this host's Kubernetes places yet (the record comes first)"
  want "Kubernetes install $key"
  # Files only, absolute: a directory is never removed on their account.
  while read -r path; do
    case "$path" in /*/ | '' | /) continue ;; /*) put file "$path" ;; esac
  done
  put key "$key"
}

# The rules kube-proxy and calico added (chains KUBE-*, cali-*, and rules that jump to them), nothing else.
undo_firewall() {
  local tool saved
  for tool in iptables ip6tables; do
    command -v "$tool-save" >/dev/null || continue
    saved=$("$tool-save" 2>/dev/null) || continue
    grep -qE 'KUBE-|cali-|cali:' <<<"$saved" || continue
    grep -vE 'KUBE-|cali-|cali:' <<<"$saved" | "$tool-restore"
    said restored "$tool rules without kube-proxy's and calico's chains"
  done
}

undo() {
  local prefix=$1 place file name key value
  # Nothing to say on a host that never had dpdkci's Kubernetes.
  [ -r "$state" ] || return 0
  [ "$(get prefix)" = "$prefix" ] || die "this host's Kubernetes is recorded for cluster \"$(get prefix)\", not \"$prefix\""
  if [ -x /usr/local/bin/kubeadm ] && [ -e /run/containerd/containerd.sock ]; then
    if kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock >/var/log/dpdkci-kubeadm-reset.log 2>&1; then
      said restored "no Kubernetes node (kubeadm reset)"
    else
      said kept "what kubeadm reset could not clean (log: /var/log/dpdkci-kubeadm-reset.log)"
    fi
  fi
  systemctl stop kubelet.service containerd.service 2>/dev/null || true
  for name in containerd.service kubelet.service; do
    all wants_had | grep -qxF "$name" || rm -f "${WANTS:?}/$name"
  done
  # Container mounts left behind would keep the directories from going.
  while read -r place; do
    umount -l "$place" 2>/dev/null || true
  done < <(awk '$2 ~ "^/(var/lib/kubelet|run/containerd|var/lib/containerd)/" { print $2 }' /proc/mounts | sort -r)
  for name in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    case "$name" in cali* | vxlan.calico) ip link delete "$name" 2>/dev/null || true ;; esac
  done
  undo_firewall
  while read -r file; do
    if [ -f "$file" ] || [ -L "$file" ]; then rm -f -- "$file"; fi
  done < <(all file)
  for place in "${PLACES[@]}"; do
    if ! all had | grep -qxF "$place" && [ -e "$place" ]; then
      rm -rf -- "$place"
      said restored "no $place"
    fi
  done
  if all had | grep -qxF /opt/cni/bin; then
    for name in /opt/cni/bin/*; do
      [ -e "$name" ] || continue
      all cni_had | grep -qxF "$(basename "$name")" || rm -f -- "$name"
    done
    said restored "/opt/cni/bin with only the plugins it had"
  fi
  # What the install copied over /: gone, or put back as it was.
  while read -r file; do
    [ -n "$file" ] || continue
    if all replaced | grep -qxF "$file"; then
      install -D -m 0644 "$backup$file" "$file"
    else
      rm -f -- "$file"
    fi
  done < <(all target)
  rmdir /etc/systemd/system/kubelet.service.d 2>/dev/null || true
  rm -f /var/log/dpdkci-kubeadm-init.log /var/log/dpdkci-kubeadm-join.log
  systemctl daemon-reload
  said restored "no kubelet, kubeadm, kubectl, crictl or containerd 2 of dpdkci's, and no unit of theirs"
  for key in "${SYSCTLS[@]}"; do
    value=$(get "sysctl:$key")
    if [ -n "$value" ] && [ "$value" != absent ]; then sysctl -q -w "$key=$value" >/dev/null 2>&1 || true; fi
  done
  said restored "${SYSCTLS[*]} as they were"
  for name in "${MODULES[@]}"; do
    all module_had | grep -qxF "$name" && continue
    if modprobe -r "$name" 2>/dev/null; then said restored "module $name not loaded"; else said kept "module $name loaded (in use) until the next boot"; fi
  done
  rm -rf -- "$backup"
  rm -f -- "$state"
}

case "$mode:${1:-}" in
  check:record | apply:record) shift; part_record "$@" ;;
  check:installed | apply:installed) shift; part_installed "$@" ;;
  undo:*) undo "$@" ;;
  *) die "unknown: $mode ${1:-}" ;;
esac
