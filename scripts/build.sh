#!/bin/sh
# build.sh DIR [meson options...]: configure DIR and build it. Quiet on success; when a step fails,
# its output (meson's or the compiler's) is shown and the status is 1.
# DIR is configured from scratch when it has never been configured completely (a setup that failed
# half-way) or when the dependencies meson can find (the installed pkg-config modules, the
# compiler) changed since its last setup: a build directory made before `apt-get install
# libcmocka-dev` picks cmocka up. Options that differ from the last ones given are applied with
# `meson configure` (options not given keep their values).
# $KAPSEL_NINJA_TARGETS: build only these targets (the tests of this script use it).
set -eu
cd "$(dirname "$0")/.."
dir=$1
shift
log=$(mktemp /tmp/kapsel-build.XXXXXX)
trap 'rm -f "$log"' EXIT

# step NAME CMD...: run CMD with its output in $log; on failure show it and stop
step() {
        name=$1
        shift
        if ! "$@" > "$log" 2>&1; then
                keep="$dir/build-failed.log"
                [ -d "$dir" ] || keep=$(mktemp /tmp/kapsel-build-failed.XXXXXX)
                cp "$log" "$keep"
                echo "build.sh: $name failed: $*" >&2
                echo "--- last lines of its output (all of it: $keep) ---" >&2
                tail -n 100 "$log" >&2
                exit 1
        fi
}

# What meson found depends on: the installed pkg-config modules and the compiler.
deps="$(pkg-config --list-all 2>/dev/null | cut -d' ' -f1 | LC_ALL=C sort | cksum) $(${CC:-cc} --version 2>/dev/null | head -n 1)"
opts="$*"
stamp="$dir/.kapsel-setup"

if [ ! -f "$dir/build.ninja" ]; then
        # never configured, or a setup that failed half-way: start afresh (ccache keeps the objects)
        if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
                if [ ! -d "$dir/meson-private" ] && [ ! -d "$dir/meson-logs" ] && [ ! -f "$dir/build-failed.log" ]; then
                        echo "build.sh: $dir exists and is not a meson build directory; remove it or pick another" >&2
                        exit 1
                fi
                rm -rf "$dir"
        fi
        echo "build.sh: configuring $dir${opts:+ ($opts)}" >&2
        step "meson setup" meson setup "$dir" "$@"
elif [ "$(sed -n 1p "$stamp" 2>/dev/null)" != "$deps" ]; then
        # dependencies appeared or went away since: meson looks for every one again
        echo "build.sh: the installed dependencies changed: configuring $dir again${opts:+ ($opts)}" >&2
        step "meson setup --wipe" meson setup --wipe "$dir" "$@"
elif [ -n "$opts" ] && [ "$(sed -n 2p "$stamp" 2>/dev/null)" != "$opts" ]; then
        step "meson configure" meson configure "$dir" "$@"
fi
printf '%s\n%s\n' "$deps" "$opts" > "$stamp"
# shellcheck disable=SC2086 # a list of targets
step "the build" ninja -C "$dir" ${KAPSEL_NINJA_TARGETS:-}
rm -f "$dir/build-failed.log"
