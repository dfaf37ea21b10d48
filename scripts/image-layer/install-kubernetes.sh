#!/bin/bash
# On the image build VM (a node booted from the base image): turns it into a Kubernetes node image, from a
# staging directory the host has filled with artefacts it already verified against versions.lock.yaml.
# With TARGET "host", on a machine dpdkci did not boot (provider hosts): the same install, then the kernel
# settings applied now (such a machine does not boot again first), and nothing of its identity touched.
#
#   install-kubernetes.sh STAGING PAUSE_IMAGE [image|host]
#
# STAGING holds:
#   install.list   one "NAME DEST" per line: files/NAME installed as DEST, mode 0755 (a gzip archive holds a
#                  binary named like DEST, which is taken out of it); a DEST ending in / is a directory the
#                  archive is unpacked into (containerd's bin/, the CNI plugins)
#   files/         the pinned files
#   images/        OCI image archives, imported into containerd's k8s.io namespace (what the kubelet uses)
#   images.list    one "ARCHIVE REF DIGEST" per line: the reference and index digest each archive must hold
#   rootfs/        files copied over / (kubelet unit and kubeadm drop-in, modules, sysctls, crictl.yaml)
#
# It prints "@@ step NAME" as it goes, then what the image now holds for the host to check:
#   @@ installed DEST     @@ image REF     @@ cgroup systemd     @@ sandbox REF
set -euo pipefail

staging=${1:?usage: install-kubernetes.sh STAGING PAUSE_IMAGE}
pause=${2:?usage: install-kubernetes.sh STAGING PAUSE_IMAGE}
target=${3:-image}
case "$target" in image | host) ;; *) printf 'install-kubernetes: TARGET is image or host, not %s\n' "$target" >&2; exit 2 ;; esac
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
  # A gzip archive (by its magic, whatever its name) is unpacked into a DEST ending in /, or gives up the
  # binary named like DEST; anything else is the binary itself.
  if [ "$(od -An -tx1 -N2 "$src" | tr -d ' ')" = 1f8b ]; then
    case "$dest" in
      */)
        mkdir -p "$dest"
        tar -xzf "$src" -C "$dest" --no-same-owner
        ;;
      *)
        unpack=$(mktemp -d)
        tar -xzf "$src" -C "$unpack"
        [ -f "$unpack/$(basename "$dest")" ] || die "$name holds no $(basename "$dest")"
        install -D -m 0755 "$unpack/$(basename "$dest")" "$dest"
        rm -rf "$unpack"
        ;;
    esac
  else
    case "$dest" in */) die "$name is not a gzip archive, and $dest is a directory to unpack one into" ;; esac
    install -D -m 0755 "$src" "$dest"
  fi
  installed+=("$dest")
done <"$staging/install.list"

step system
# Files only, modes from a umask of 022: the staging directories' own modes, owners and times (a login
# user's umask, on a host) must not land on / and /etc.
umask 022
cp -r --no-preserve=mode,ownership,timestamps "$staging/rootfs/." /
systemctl daemon-reload
if [ "$target" = host ]; then
  # What kubeadm's preflight checks (br_netfilter, ip_forward), now rather than at a boot.
  while read -r module; do
    case "$module" in '' | '#'*) continue ;; esac
    modprobe "$module" || die "modprobe $module failed"
  done </etc/modules-load.d/kubernetes.conf
  sysctl -q -p /etc/sysctl.d/90-kubernetes.conf >/dev/null || die "sysctl -p /etc/sysctl.d/90-kubernetes.conf failed"
fi

step containerd
# containerd 2 from the pinned static archive (in /usr/local/bin, over Debian's 1.6 in /usr/bin), with its
# own unit from rootfs/ (upstream's containerd.service: ExecStart=/usr/local/bin/containerd,
# containerd/containerd@db8809540e1a7a9da5d518876894933ff55692ab:containerd.service). Its configuration
# holds only what dpdkci changes; containerd's defaults fill in the rest. The keys:
# containerd/containerd@db88095 (v2.3.4):docs/cri/config.md. systemd cgroups are the kubelet's
# cgroupDriver; the pinned pause image is the sandbox (in the image, never pulled); the pinned runc; the
# CNI plugins and the userspace CNI in /opt/cni/bin; registry hosts in certs.d, where dpdkci-seed points
# registry:5000 at the cluster's registry on the host and `up` writes --registry-mirror's hosts.toml.
# Its format: version 4 for containerd 2.3 and later, which reads it as its own (version/version.go
# ConfigVersion; anything older it migrates at every start, RELEASES.md), version 3 for 2.0-2.2. The keys
# written here are the same in both (the 3-to-4 migrations move only older plugin names:
# plugins/cri/{images,runtime}/plugin.go, core/metrics/cgroups/cgroups.go), and kubespray chooses the same
# way (kubernetes-sigs/kubespray@46dbdd39:roles/container-engine/containerd/templates/config.toml.j2).
[ -x /usr/local/bin/containerd ] || die "the containerd archive did not put /usr/local/bin/containerd in place"
# "containerd github.com/containerd/containerd/v2 v2.3.4 REVISION" (cmd/containerd/command/main.go).
release=$(/usr/local/bin/containerd --version | awk '{print $3}')
minor=$(sed -n 's/^v\{0,1\}2\.\([0-9][0-9]*\)\..*/\1/p' <<<"$release")
[ -n "$minor" ] || die "/usr/local/bin/containerd --version says \"$release\", not a 2.x release"
config_version=3
if [ "$minor" -ge 3 ]; then config_version=4; fi
mkdir -p /etc/containerd
{
  printf '# Written by dpdkci: what the Kubernetes layer changes of containerd 2 defaults.\nversion = %s\n\n' "$config_version"
  printf "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = '%s'\n\n" "$pause"
  printf "[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/containerd/certs.d'\n\n"
  printf "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n  BinaryName = '/usr/local/sbin/runc'\n\n"
  printf "[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = ['/opt/cni/bin']\n  conf_dir = '/etc/cni/net.d'\n"
} >/etc/containerd/config.toml
# Both start at every boot of a Kubernetes node (the base image leaves containerd off).
systemctl daemon-reload
systemctl add-wants --no-reload multi-user.target containerd.service kubelet.service
systemctl restart containerd
for _ in $(seq 1 30); do
  ctr version >/dev/null 2>&1 && break
  sleep 1
done
ctr version >/dev/null 2>&1 || die "containerd did not answer within 30 s"
# (Read whole first: grep -q stopping early would fail the pipe under pipefail.)
answer=$(ctr version)
grep -q 'Version:[[:space:]]*v\{0,1\}2[.]' <<<"$answer" || die "the containerd that answers is not 2.x: $(tr '\n' ' ' <<<"$answer")"

step images
shopt -s nullglob
# Each archive in images.list ("ARCHIVE REF DIGEST") is imported, its index must be the digest the lock
# pins, and it is also named REPO@DIGEST: the add-ons run NAME:TAG@DIGEST, which the CRI plugin looks up by
# REPO@DIGEST, and `ctr images import --digests` names digests after a prefix of its own
# (containerd/containerd@db88095:core/transfer/image/imagestore.go), not after the image's repository.
[ -f "$staging/images.list" ] || die "$staging/images.list is missing"
while read -r archive ref digest; do
  [ -n "$archive" ] || continue
  ctr -n "$namespace" images import "$staging/images/$archive" >/dev/null || die "ctr could not import $archive ($ref)"
  got=$(ctr -n "$namespace" images ls "name==$ref" | awk 'NR > 1 {print $3}')
  [ "$got" = "$digest" ] || die "$ref: the archive's index is ${got:-not imported}, but the lock pins $digest"
  ctr -n "$namespace" images tag --force "$ref" "${ref%:*}@$digest" >/dev/null || die "ctr could not name $ref by its digest"
done <"$staging/images.list"

step verify
for dest in "${installed[@]}"; do
  [ -x "$dest" ] && printf '@@ installed %s\n' "$dest"
done
ctr -n "$namespace" images ls -q | grep -v '@sha256:' | grep -v '^sha256:' | sed 's/^/@@ image /'
dump=$(containerd config dump)
grep -q 'SystemdCgroup = true' <<<"$dump" && echo '@@ cgroup systemd'
sed -n "s/^[[:space:]]*sandbox = [\"']\(.*\)[\"']\$/@@ sandbox \\1/p" <<<"$dump"

if [ "$target" = host ]; then
  rm -rf "$staging"
  exit 0
fi

step first-boot
# The layer is made by booting the base image: what that boot made unique to one machine goes, so that
# every node makes its own (the kubelet reports the machine-id; systemd-networkd's DUIDs derive from it).
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id /var/lib/systemd/random-seed
# A name server the nodes reach: QEMU's user network answers DNS on 10.0.2.3, whatever the build host
# used (debootstrap copies the build host's resolv.conf, which may be a stub of 127.0.0.53).
rm -f /etc/resolv.conf
printf 'nameserver 10.0.2.3\n' >/etc/resolv.conf

rm -rf "$staging"
sync
