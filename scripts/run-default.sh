#!/bin/sh
# The main job on the embedded default: install what is needed, build, and run a container
# from the built-in busybox bundle with kapsel-runtime. Needs root on Debian 12.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build
root=$(mktemp -d /tmp/kapsel-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
exec build/src/cli/kapsel-runtime --root "$root" run --bundle build/busybox-bundle "demo-$$"
