#!/bin/sh
# Install every Debian 12 package kapsel needs to build, test and benchmark.
# Usage: scripts/install-deps.sh [build|test|bench]   (default: test)
#        scripts/install-deps.sh --list [build|test|bench]
# Idempotent; needs root. Only Debian's own archive is used.
set -eu
what=${1:-test}

build="build-essential pkg-config meson ninja-build libjansson-dev libseccomp-dev
       libcap-dev busybox-static libarchive-dev libcurl4-openssl-dev libssl-dev
       libsqlite3-dev libmnl-dev libnftnl-dev e2fsprogs
       libmicrohttpd-dev"
# web console (issue 19): node + npm bundle its front end (kept when a node with npm is already there)
command -v npm >/dev/null 2>&1 || build="$build nodejs npm"
test="$build libcmocka-dev python3-pytest clang llvm iproute2 procps util-linux
      qemu-system-x86 linux-image-amd64 cpio kmod nftables docker-registry skopeo umoci
      runc crun podman uidmap apache2-utils"
# kapsel build: tests/integration/test_build.py compares with buildah bud; debootstrap makes the
# Debian+gcc base of its multi-stage C case (scripts/test.sh sets KAPSEL_BUILD_DEBOOTSTRAP=1)
test="$test buildah debootstrap"
# kapsel-runtime under real engines (tests/integration/test_engines.py); gawk for runc's bats suite
test="$test docker.io containerd gawk"
# kapseld: the docker CLI, docker-py and docker-compose as clients (tests/integration/test_daemon.py)
test="$test python3-docker docker-compose"
# kapseld: Vagrant's docker provider as a client (tests/integration/test_vagrant.py)
test="$test vagrant"
# web console (issue 19): the browser tests drive Debian's chromium headless
test="$test chromium"
bench="$test hyperfine gnuplot-nox iperf3 netavark"

# --list SET: print the set's packages, one a line (tests/integration/test_scripts.py checks the build set)
if [ "$what" = --list ]; then
    eval printf '%s\\n' \$${2:-test}
    exit 0
fi
eval pkgs=\$$what
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
