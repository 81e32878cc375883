#!/usr/bin/env bash
# Packages Debian's nginx and php-fpm (apt-get install nginx-light php8.2-fpm) and the passport
# application as Seer packages, and pushes them to REGISTRY under the names php-stack.yaml uses:
#   REGISTRY/nginx:v1.9  REGISTRY/fpm:v7.0  REGISTRY/passport:v1.0  REGISTRY/passport:v2.0
# usage: push-packages.sh REGISTRY [seer package push options, e.g. --insecure]
set -euo pipefail
registry=${1:?usage: push-packages.sh REGISTRY [--insecure] [--credentials FILE]}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seer=${SEER:-node "$here/../../dist/cli/main.js"}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
fpm=${PHP_FPM_BINARY:-$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -n 1)}
[ -x "$nginx" ] || { echo "nginx not found at $nginx (apt-get install nginx-light)" >&2; exit 1; }
[ -x "$fpm" ] || { echo "php-fpm not found in /usr/sbin (apt-get install php8.2-fpm)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# A copy of a package directory with files added: stage NAME SOURCE_DIR
stage() {
  cp -R "$2" "$stage/$1"
  echo "$stage/$1"
}

dir=$(stage nginx "$here/nginx")
mkdir -p "$dir/libexec"
cp "$nginx" "$dir/libexec/nginx"
cp /etc/nginx/mime.types /etc/nginx/fastcgi.conf "$dir/conf/"
$seer package push "$dir" "$registry/nginx:v1.9" "$@"

dir=$(stage fpm "$here/fpm")
mkdir -p "$dir/libexec"
cp "$fpm" "$dir/libexec/php-fpm"
$seer package push "$dir" "$registry/fpm:v7.0" "$@"

for version in v1.0 v2.0; do
  dir=$(stage "passport-$version" "$here/passport")
  echo "$version" >"$dir/VERSION"
  $seer package push "$dir" "$registry/passport:$version" "$@"
done
