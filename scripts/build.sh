#!/bin/sh
# build.sh DIR [meson options...]: configure (once) and build into DIR.
set -eu
cd "$(dirname "$0")/.."
dir=$1
shift
if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
