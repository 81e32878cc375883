#!/usr/bin/env bash
# Builds pinned kube-apiserver, kubectl, etcd and helm from the Go module proxy into a cache
# directory outside the repository, reusing binaries already there.
#
#   scripts/build-control-plane.sh            # prints the bin directory on its last line
#   SEER_CACHE_DIR=/somewhere scripts/build-control-plane.sh
#
# k8s.io/kubernetes and etcd's server module replace their sibling modules with local paths, which
# `go install pkg@version` refuses. So each is built inside a small wrapper module that requires it
# and replaces every sibling with its published version.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${SEER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/seer}
bin="$cache/bin/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
work="$cache/go-build-modules"
mkdir -p "$bin" "$work"

log() { printf '[control-plane] %s\n' "$*" >&2; }

# The published versions of k8s.io staging modules are v0.X.Y for Kubernetes v1.X.Y.
staging_version="v0.${KUBERNETES_VERSION#v1.}"

# wrapper_module DIR MODULE VERSION [REPLACE_LINES...]
wrapper_module() {
  local dir=$1 module=$2 version=$3
  shift 3
  mkdir -p "$dir"
  {
    echo "module seer.local/build/$(basename "$dir")"
    echo
    echo "go 1.26"
    echo
    echo "require $module $version"
    for line in "$@"; do echo "replace $line"; done
  } >"$dir/go.mod"
}

build() {
  local dir=$1 pkg=$2 out=$3
  if [ -x "$bin/$out" ]; then
    log "$out: cached"
    return
  fi
  log "$out: building $pkg"
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
}

if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubectl" ]; then
  k8s_dir="$work/kubernetes-$KUBERNETES_VERSION"
  proxy=$(go env GOPROXY); proxy=${proxy%%,*}
  case $proxy in http*) ;; *) proxy=https://proxy.golang.org ;; esac
  mapfile -t staging < <(curl -fsSL "$proxy/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod" |
    sed -nE 's#^\s*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\1#p')
  replaces=()
  for m in "${staging[@]}"; do replaces+=("$m => $m $staging_version"); done
  wrapper_module "$k8s_dir" k8s.io/kubernetes "$KUBERNETES_VERSION" "${replaces[@]}"
  build "$k8s_dir" k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
  build "$k8s_dir" k8s.io/kubernetes/cmd/kubectl kubectl
fi

if [ ! -x "$bin/etcd" ]; then
  etcd_dir="$work/etcd-$ETCD_VERSION"
  wrapper_module "$etcd_dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  build "$etcd_dir" go.etcd.io/etcd/server/v3 etcd
fi

if [ ! -x "$bin/helm" ]; then
  helm_dir="$work/helm-$HELM_VERSION"
  wrapper_module "$helm_dir" helm.sh/helm/v3 "$HELM_VERSION"
  build "$helm_dir" helm.sh/helm/v3/cmd/helm helm
fi

echo "$bin"
