#!/bin/bash
# On the image build VM (a node booted from the base image): turns it into a Kubernetes node image, from a
# staging directory the host has filled with artefacts it already verified against versions.lock.yaml.
#
#   install-kubernetes.sh STAGING PAUSE_IMAGE
#
# STAGING holds:
#   install.list   one "NAME DEST" per line: files/NAME installed as DEST, mode 0755 (a .tar.gz holds a
#                  binary named like DEST, which is taken out of it)
#   files/         the pinned files
#   images/        OCI image archives, imported into containerd's k8s.io namespace (what the kubelet uses)
#   rootfs/        files copied over / (kubelet unit and kubeadm drop-in, modules, sysctls, crictl.yaml)
#
# It prints "@@ step NAME" as it goes, then what the image now holds for the host to check:
#   @@ installed DEST     @@ image REF     @@ cgroup systemd     @@ sandbox REF
set -euo pipefail

staging=${1:?usage: install-kubernetes.sh STAGING PAUSE_IMAGE}
pause=${2:?usage: install-kubernetes.sh STAGING PAUSE_IMAGE}
namespace=k8s.io

die() {
  printf 'install-kubernetes: %s\n' "$*" >&2
  exit 1
}
step() { printf '@@ step %s\n' "$1"; }

[ -f "$staging/install.list" ] || die "$staging/install.list is missing"

step binaries
installed=()
while read -r name dest; do
  [ -n "$name" ] || continue
  src=$staging/files/$name
  [ -f "$src" ] || die "files/$name is missing from the staging directory"
  case "$name" in
    *.tar.gz | *.tgz)
      unpack=$(mktemp -d)
      tar -xzf "$src" -C "$unpack"
      [ -f "$unpack/$(basename "$dest")" ] || die "$name holds no $(basename "$dest")"
      install -D -m 0755 "$unpack/$(basename "$dest")" "$dest"
      rm -rf "$unpack"
      ;;
    *) install -D -m 0755 "$src" "$dest" ;;
  esac
  installed+=("$dest")
done <"$staging/install.list"

step system
cp -a "$staging/rootfs/." /
systemctl daemon-reload

step containerd
# containerd's defaults with the two settings the kubelet needs: systemd cgroups (the kubelet's
# cgroupDriver) and the pinned pause image as the sandbox, which is in the image and never pulled; and the
# registry hosts directory, where dpdkci-seed points registry:5000 at the cluster's registry on the host.
mkdir -p /etc/containerd
containerd config default |
  sed -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
    -e "s|^\([[:space:]]*sandbox_image = \).*|\1\"$pause\"|" \
    -e 's|^\([[:space:]]*config_path = \)""|\1"/etc/containerd/certs.d"|' >/etc/containerd/config.toml.new
grep -q 'SystemdCgroup = true' /etc/containerd/config.toml.new || die "containerd's default configuration has no SystemdCgroup setting"
grep -q 'config_path = "/etc/containerd/certs.d"' /etc/containerd/config.toml.new || die "containerd's default configuration has no registry config_path setting"
mv /etc/containerd/config.toml.new /etc/containerd/config.toml
# Both start at every boot of a Kubernetes node (the base image leaves containerd off).
systemctl add-wants --no-reload multi-user.target containerd.service kubelet.service
systemctl restart containerd
for _ in $(seq 1 30); do
  ctr version >/dev/null 2>&1 && break
  sleep 1
done
ctr version >/dev/null 2>&1 || die "containerd did not answer within 30 s"

step images
shopt -s nullglob
for archive in "$staging"/images/*.tar; do
  ctr -n "$namespace" images import "$archive" >/dev/null || die "ctr could not import $(basename "$archive")"
done

step verify
for dest in "${installed[@]}"; do
  [ -x "$dest" ] && printf '@@ installed %s\n' "$dest"
done
ctr -n "$namespace" images ls -q | grep -v 'sha256:' | sed 's/^/@@ image /'
containerd config dump | grep -q 'SystemdCgroup = true' && echo '@@ cgroup systemd'
containerd config dump | sed -n 's/^[[:space:]]*sandbox_image = "\(.*\)"/@@ sandbox \1/p'

rm -rf "$staging"
sync
