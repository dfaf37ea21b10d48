#!/bin/bash
# On a machine dpdkci did not boot (provider hosts) with --kubernetes: records what the host had in the places
# dpdkci's Kubernetes writes to, before install-kubernetes.sh runs there, and takes it all away on `down`.
# The record is /var/lib/dpdkci/kubernetes-state (key=value, 0600); files it replaces are kept beside it.
#
#   host-kubernetes.sh check|apply record PREFIX < FILES   (FILES: every file the install writes, one a line)
#   host-kubernetes.sh check|apply installed KEY          (exit 0 when the install KEY is in place)
#   host-kubernetes.sh undo PREFIX                        (prints "restored <what>" and "kept <what>" lines)
#
# check exits 0 when there is nothing to do and 3 (printing "pending <what>") when apply has work.
set -euo pipefail

mode=${1:?usage: host-kubernetes.sh check|apply|undo PART ARGS...}
shift
dir=/var/lib/dpdkci
state=$dir/kubernetes-state
backup=$dir/kubernetes-backup
staging=/var/tmp/dpdkci-kubernetes

# Every place the pinned containerd, the kubelet, kubeadm, calico, multus and the userspace CNI write to.
PLACES=(/etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/containerd /var/lib/containerd /run/containerd
  /opt/containerd /etc/cni/net.d /opt/cni/bin /var/lib/cni /var/lib/calico /run/calico /var/log/calico
  /var/log/pods /var/log/containers /etc/dpdkci)
# Their parents, removed only when empty and only by a record that says whether they were there; the
# multus directory holds the vhost-user network's file (cni-netconf.sh), a target of the record.
PARENTS=(/etc/cni/multus/net.d /etc/cni/multus /opt/cni /etc/cni)
# What dpdkci itself writes in /etc/dpdkci, for a host that had that directory already.
OWN=(/etc/dpdkci/kubeadm-patches /etc/dpdkci/addons /etc/dpdkci/kubeadm-init.yaml /etc/dpdkci/kubeadm-join.yaml
  /etc/dpdkci/kubeadm-init.done)
# Files the kubeadm steps leave in /var/log (kubernetes.sh).
LOGS=(/var/log/dpdkci-kubeadm-init.log /var/log/dpdkci-kubeadm-join.log /var/log/dpdkci-kubeadm-reset.log)
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
get() { all "$1" | tail -n 1; }
put() { printf '%s=%s\n' "$1" "$2" >>"$state"; }
said() { printf '%s %s\n' "$1" "$2"; }

# Whether VALUE is recorded under KEY (read whole: no early exit of a pipe under pipefail).
has() {
  local v
  while read -r v; do
    [ "$v" = "$2" ] && return 0
  done < <(all "$1")
  return 1
}

part_record() {
  local prefix=$1 file place key name
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
  # (A record without this line was made before PARENTS were recorded: it says nothing of them; one
  # with 1, before the multus directories were among them.)
  put parents_recorded 2
  for place in "${PLACES[@]}" "${OWN[@]}" "${PARENTS[@]}"; do
    if [ -e "$place" ]; then put had "$place"; fi
  done
  for place in /opt/cni/bin /etc/cni/net.d; do
    for name in "$place"/*; do
      if [ -e "$name" ]; then put entry_had "$name"; fi
    done
  done
  # Every file the install writes: one the host has is kept, to be put back.
  while read -r file; do
    case "$file" in /*[!/]) ;; *) continue ;; esac
    put target "$file"
    if [ -f "$file" ] || [ -L "$file" ]; then
      install -d -m 0700 "$(dirname "$backup.partial$file")"
      cp -a -- "$file" "$backup.partial$file"
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
  if [ -d "$backup.partial" ]; then mv "$backup.partial" "$backup"; fi
  mv "$state" "${state%.partial}"
}

part_installed() {
  local key=$1
  [ -r "$state" ] && [ "$(get key)" = "$key" ] && return 0
  want "Kubernetes install $key"
  [ -r "$state" ] || die "no record of this host's Kubernetes places yet (the record comes first)"
  # One key: the install now in place.
  sed -i '/^key=/d' "$state"
  put key "$key"
}

# The rules kube-proxy and calico added: their chains, the rules in them, and the jumps to them; nothing else.
undo_firewall() {
  local tool saved kept
  for tool in iptables ip6tables; do
    command -v "$tool-save" >/dev/null || continue
    saved=$("$tool-save" 2>/dev/null) || continue
    kept=$(grep -vE '^:(KUBE-|cali-)|^-A (KUBE-|cali-)|-j (KUBE-|cali-)' <<<"$saved" || true)
    [ "$kept" = "$saved" ] && continue
    if "$tool-restore" <<<"$kept"; then
      said restored "$tool rules without kube-proxy's and calico's chains"
    else
      said kept "$tool rules of kube-proxy and calico ($tool-restore refused the rest: see $tool-save)"
    fi
  done
}

# Containers first: pods (kubepods.slice with the systemd cgroup driver) and the shims in containerd's cgroup.
stop_runtime() {
  if [ -x /usr/local/bin/kubeadm ] && [ -e /run/containerd/containerd.sock ]; then
    if kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock </dev/null >/var/log/dpdkci-kubeadm-reset.log 2>&1; then
      said restored "no Kubernetes node (kubeadm reset)"
    else
      said kept "what kubeadm reset could not clean (its log: /var/log/dpdkci-kubeadm-reset.log)"
    fi
  fi
  systemctl stop kubelet.service 2>/dev/null || true
  systemctl stop kubepods.slice 2>/dev/null || true
  systemctl kill -s SIGKILL containerd.service 2>/dev/null || true
  systemctl stop containerd.service 2>/dev/null || true
  local name
  for name in containerd.service kubelet.service; do
    has wants_had "$name" || rm -f "${WANTS:?}/$name"
  done
  # Container mounts left behind would keep the directories from going.
  while read -r name; do
    umount -l "$name" 2>/dev/null || true
  done < <(awk '$2 ~ "^/(var/lib/kubelet|run/containerd|var/lib/containerd)/" { print $2 }' /proc/mounts | sort -r)
  for name in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    case "$name" in cali* | vxlan.calico) ip link delete "$name" 2>/dev/null || true ;; esac
  done
}

undo() {
  local prefix=$1 place file name key value
  # Nothing to say on a host that never had dpdkci's Kubernetes.
  [ -r "$state" ] || return 0
  [ "$(get prefix)" = "$prefix" ] || die "this host's Kubernetes is recorded for cluster \"$(get prefix)\", not \"$prefix\""
  stop_runtime
  undo_firewall
  # Each file the install writes: put back as it was, or gone.
  while read -r file; do
    if has replaced "$file"; then
      install -d "$(dirname "$file")"
      cp -a -- "$backup$file" "$file"
    elif [ -f "$file" ] || [ -L "$file" ]; then
      rm -f -- "$file"
    fi
  done < <(all target)
  rmdir /etc/systemd/system/kubelet.service.d 2>/dev/null || true
  for place in "${PLACES[@]}" "${OWN[@]}"; do
    if ! has had "$place" && [ -e "$place" ]; then
      rm -rf --one-file-system -- "$place"
      said restored "no $place"
    fi
  done
  # In a directory the host had: only what was there (calico and multus add their own plugins and configs).
  for place in /opt/cni/bin /etc/cni/net.d; do
    has had "$place" || continue
    for name in "$place"/*; do
      if [ -e "$name" ] && ! has entry_had "$name"; then rm -rf --one-file-system -- "$name"; fi
    done
    said restored "$place with only what it had"
  done
  key=$(get parents_recorded)
  if [ -n "$key" ]; then
    for place in "${PARENTS[@]}"; do
      case "$key:$place" in 1:/etc/cni/multus*) continue ;; esac
      if [ -d "$place" ] && ! has had "$place" && rmdir -- "$place" 2>/dev/null; then said restored "no $place"; fi
    done
  fi
  rm -rf --one-file-system -- "$staging"
  rm -f -- "${LOGS[@]}"
  systemctl daemon-reload
  said restored "no kubelet, kubeadm, kubectl, crictl or containerd 2 of dpdkci's, and no unit of theirs; replaced files as they were"
  for key in "${SYSCTLS[@]}"; do
    value=$(get "sysctl:$key")
    if [ -n "$value" ] && [ "$value" != absent ]; then sysctl -q -w "$key=$value" >/dev/null 2>&1 || true; fi
  done
  said restored "${SYSCTLS[*]} as they were"
  # rmmod, not modprobe -r: only the module itself, never others it pulled in that the host may use.
  for name in "${MODULES[@]}"; do
    has module_had "$name" && continue
    [ -d "/sys/module/$name" ] || continue
    if rmmod "$name" 2>/dev/null; then said restored "module $name not loaded"; else said kept "module $name loaded (in use) until the next boot"; fi
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
