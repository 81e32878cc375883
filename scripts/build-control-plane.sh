#!/usr/bin/env bash
# Builds pinned kube-apiserver, kubectl, etcd and helm, and the distribution registry where Debian's
# docker-registry is not installed, from the Go module proxy into a cache directory outside the
# repository, reusing binaries already there. Needs only bash, coreutils and Go.
#
#   scripts/build-control-plane.sh                  # the last stdout line is the control-plane bin
#                                                   # dir; before it `registry=PATH` when the
#                                                   # registry is built here
#   scripts/build-control-plane.sh --registry-only  # only the registry: prints `registry=PATH`
#   SEER_CACHE_DIR=/somewhere scripts/build-control-plane.sh
#   SEER_BUILD_REGISTRY=1 scripts/build-control-plane.sh   # the registry too, even beside Debian's
#
# After a run that built something, DIR/build-times.json holds the seconds each program took.
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
registry_dir="$cache/bin/registry-$DISTRIBUTION_VERSION"
debian_registry=/usr/bin/docker-registry

log() { printf '[control-plane] %s\n' "$*" >&2; }
fail() {
  log "$*"
  exit 1
}

registry_only=false
case ${1-} in
  --registry-only) registry_only=true ;;
  '') ;;
  *) fail "unknown argument '$1' (usage: $0 [--registry-only])" ;;
esac

# The same choice as findRegistryBinary() in cli/local-registry.ts: a registry named by
# SEER_REGISTRY_BINARY, else Debian's, else the one built here.
want_registry=false
if $registry_only || [ "${SEER_BUILD_REGISTRY-}" = 1 ] ||
  { [ -z "${SEER_REGISTRY_BINARY-}" ] && [ ! -x "$debian_registry" ]; }; then
  want_registry=true
fi

report() {
  if $want_registry; then echo "registry=$registry_dir/registry"; fi
  if ! $registry_only; then echo "$bin"; fi
}

missing=()
if ! $registry_only; then
  for program in kube-apiserver kubectl etcd helm; do
    [ -x "$bin/$program" ] || missing+=("$program")
  done
fi
if $want_registry && [ ! -x "$registry_dir/registry" ]; then missing+=(registry); fi
if [ ${#missing[@]} -eq 0 ]; then
  report
  exit 0
fi
needs() { [[ " ${missing[*]} " == *" $1 "* ]]; }

# Everything below fails before it writes to the cache, with one line that says what to do.
command -v go >/dev/null ||
  fail "Go is not installed (no 'go' on PATH): building ${missing[*]} needs Go $GO_MIN_VERSION or newer, from https://go.dev/dl (Debian 12's golang package is too old)"
go_version=$(go env GOVERSION 2>/dev/null || go version 2>/dev/null || true)
[[ $go_version =~ go([0-9]+)\.([0-9]+)(\.[0-9]+)? ]] ||
  fail "cannot tell which Go $(command -v go) is ('$go_version'): Go $GO_MIN_VERSION or newer is needed, from https://go.dev/dl"
IFS=. read -r min_major min_minor <<<"$GO_MIN_VERSION"
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
if ((major < min_major || (major == min_major && minor < min_minor))); then
  fail "Go ${BASH_REMATCH[0]#go} ($(command -v go)) is too old: building ${missing[*]} needs Go $GO_MIN_VERSION or newer, from https://go.dev/dl"
fi

# Asks the module proxy for each pinned module up front (a few small files, or none when the module
# cache has them), so an unreachable proxy fails in seconds rather than in the middle of a build.
# Sets gomod to the module's go.mod file.
gomod=
resolve() {
  local module=$1 version=$2 out proxy
  if out=$(timeout 60 go list -m -f '{{.GoMod}}' "$module@$version" 2>&1); then
    gomod=${out##*$'\n'}
    return
  fi
  proxy=$(go env GOPROXY)
  out=${out%%$'\n'*}
  out=${out#go: }
  case $out in
    '') fail "the Go module proxy cannot be reached (GOPROXY=$proxy): no answer for $module@$version in 60 s" ;;
    *'dial tcp'* | *'no such host'* | *'connection refused'* | *'timeout'* | *'unreachable'* | *'TLS handshake'*)
      fail "the Go module proxy cannot be reached (GOPROXY=$proxy): $out" ;;
    *) fail "cannot get $module@$version from the Go module proxy (GOPROXY=$proxy): $out" ;;
  esac
}
if needs kube-apiserver || needs kubectl; then
  resolve k8s.io/kubernetes "$KUBERNETES_VERSION"
  k8s_gomod=$gomod
fi
if needs etcd; then resolve go.etcd.io/etcd/server/v3 "$ETCD_VERSION"; fi
if needs helm; then resolve helm.sh/helm/v3 "$HELM_VERSION"; fi
if needs registry; then resolve github.com/distribution/distribution/v3 "$DISTRIBUTION_VERSION"; fi

# Programs and wrapper modules are built in a scratch directory beside the cache and renamed into
# place when complete, so a failed or interrupted build leaves nothing half-installed.
mkdir -p "$cache"
# A scratch directory older than a day is left over from a killed run.
find "$cache" -maxdepth 1 -name '.build-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
scratch=$(mktemp -d "$cache/.build-XXXXXX")
child=
cleanup() {
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building ${missing[*]} from source: the first build takes several minutes (about 7 on 2 idle cores, a few more for the registry) and is cached in $cache/bin"

# wrapper_module NAME MODULE VERSION [REPLACE_LINES...]: prints the wrapper module's directory.
wrapper_module() {
  local name=$1 dir="$scratch/modules/$1" module=$2 version=$3
  shift 3
  mkdir -p "$dir"
  {
    echo "module seer.local/build/$name"
    echo
    echo "go $GO_MIN_VERSION"
    echo
    echo "require $module $version"
    for line in "$@"; do echo "replace $line"; done
  } >"$dir/go.mod"
  echo "$dir"
}

duration() { if (($1 >= 60)); then echo "$(($1 / 60))m$(($1 % 60))s"; else echo "$1s"; fi; }

declare -A times=() # bin dir -> `"program": seconds, ...` built into it by this run
declare -A totals=()
build_started=$SECONDS

# build MODULE_DIR PACKAGE DEST_DIR PROGRAM
build() {
  local dir=$1 pkg=$2 dest=$3 program=$4 started=$SECONDS seconds
  needs "$program" || return 0
  # In the background so that a signal reaches the trap (and stops go) without waiting for go.
  # go's output is mostly `go: downloading` lines: kept aside and shown only when the build fails.
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 exec go build -trimpath -ldflags='-s -w' \
    -o "$scratch/$program" "$pkg" >"$scratch/$program.log" 2>&1) &
  child=$!
  if ! wait "$child"; then
    grep -v '^go: downloading' "$scratch/$program.log" | tail -n 30 >&2
    fail "$program: go build $pkg failed (go's output above)"
  fi
  child=
  mkdir -p "$dest"
  mv "$scratch/$program" "$dest/$program"
  seconds=$((SECONDS - started))
  log "$program: built in $(duration "$seconds")"
  times[$dest]+="${times[$dest]:+, }\"$program\": $seconds"
  totals[$dest]=$((${totals[$dest]:-0} + seconds))
}

if needs kube-apiserver || needs kubectl; then
  # The published versions of k8s.io staging modules are v0.X.Y for Kubernetes v1.X.Y.
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  replaces=()
  while read -r m; do replaces+=("$m => $m $staging_version"); done < <(
    sed -nE 's#^\s*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\1#p' "$k8s_gomod"
  )
  k8s_dir=$(wrapper_module "kubernetes-$KUBERNETES_VERSION" k8s.io/kubernetes "$KUBERNETES_VERSION" "${replaces[@]}")
  build "$k8s_dir" k8s.io/kubernetes/cmd/kube-apiserver "$bin" kube-apiserver
  build "$k8s_dir" k8s.io/kubernetes/cmd/kubectl "$bin" kubectl
fi
if needs etcd; then
  etcd_dir=$(wrapper_module "etcd-$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$ETCD_VERSION")
  build "$etcd_dir" go.etcd.io/etcd/server/v3 "$bin" etcd
fi
if needs helm; then
  helm_dir=$(wrapper_module "helm-$HELM_VERSION" helm.sh/helm/v3 "$HELM_VERSION")
  build "$helm_dir" helm.sh/helm/v3/cmd/helm "$bin" helm
fi
if needs registry; then
  registry_mod=$(wrapper_module "distribution-$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3 "$DISTRIBUTION_VERSION")
  build "$registry_mod" github.com/distribution/distribution/v3/cmd/registry "$registry_dir" registry
fi

# The times of this run's builds, for bench/control-plane-build.ts.
for dest in "${!times[@]}"; do
  printf '{"go": "%s", "cpus": %s, "finished": "%s", "seconds": {%s}, "total": %s}\n' \
    "$go_version" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${times[$dest]}" "${totals[$dest]}" \
    >"$scratch/build-times.json"
  mv "$scratch/build-times.json" "$dest/build-times.json"
done
log "built ${missing[*]} in $(duration $((SECONDS - build_started)))"

report
