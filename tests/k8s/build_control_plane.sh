#!/usr/bin/env bash
# Build a real Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler v1.20.2) from Debian bookworm's `kubernetes` source package, and install
# Debian's etcd, for the Kubernetes executor's integration tests.
#
#   tests/k8s/build_control_plane.sh        prints the folder holding the binaries
#
# The binaries are cached outside the repository ($VALIDATE_K8S_CACHE, default
# ~/.cache/validate-k8s/v1.20.2) and reused: about 10 minutes cold on 2 cores, instant
# after. Needs root for apt (Debian's packages are the only source reachable here).
set -euo pipefail

VERSION="1.20.5+really1.20.2-1.1+deb12u1"
# The cache key names the reflect2 fix below: binaries built without it are not reused.
CACHE="${VALIDATE_K8S_CACHE:-$HOME/.cache/validate-k8s/v1.20.2-reflect2-1.0.2}"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)

have_all() {
  for binary in "${BINARIES[@]}"; do [[ -x "$CACHE/$binary" ]] || return 1; done
  command -v etcd >/dev/null || [[ -x /usr/bin/etcd ]]
}

if have_all; then
  echo "$CACHE"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "build_control_plane: needs root to install Debian's golang-1.19-go, rsync and etcd-server" >&2
  exit 1
fi

log="$(mktemp -t validate-k8s-build.XXXXXX.log)"
echo "build_control_plane: building Kubernetes v1.20.2 from Debian source (log: $log)" >&2
{
  cat >/etc/apt/sources.list.d/validate-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-1.19-go rsync etcd-server dpkg-dev make \
    golang-github-modern-go-reflect2-dev
  work="$(mktemp -d -t validate-k8s-src.XXXXXX)"
  cd "$work"
  apt-get source --download-only "kubernetes=$VERSION"
  dpkg-source -x ./*.dsc src
  cd src
  # Kubernetes 1.20 vendors reflect2 1.0.1, whose map iteration faults under Go >= 1.18:
  # kube-apiserver dies (SIGSEGV in json-iterator) the first time it encodes a custom
  # resource. reflect2 1.0.2 (Debian's package) is the upstream fix, same API.
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  # Debian's source tree carries its vendored Go modules: no module download is needed.
  PATH="/usr/lib/go-1.19/bin:$PATH" GOFLAGS=-mod=vendor GOCACHE="$work/gocache" \
    KUBE_GIT_VERSION=v1.20.2 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler"
  mkdir -p "$CACHE"
  for binary in "${BINARIES[@]}"; do
    cp "_output/bin/$binary" "$CACHE/$binary"
  done
  cd /
  rm -rf "$work"
} >"$log" 2>&1 || {
  echo "build_control_plane: build failed; last lines of $log:" >&2
  tail -20 "$log" >&2
  exit 1
}
have_all
echo "$CACHE"
