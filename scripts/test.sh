#!/bin/sh
# The whole test suite on a fresh Debian 12 machine (as root): install, build, then
#   1. unit, golden and fuzz-corpus tests (meson test),
#   2. the same under ASan+UBSan,
#   3. the pytest integration suite (runtime, security, podman, engine, images, registry, networks;
#      nested QEMU: cgroup v2, kapsel-vmm, the --isolation=vm guest, kapsel vm),
#   4. the engine and VM CLI suites again with the ASan+UBSan kapsel.
# Environment: KAPSEL_SKIP_NESTED=1 skips the nested-VM tests; PYTEST_ARGS adds pytest args.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

echo "== build"
scripts/build.sh build -Dtests=enabled
echo "== unit, golden and fuzz-corpus tests"
meson test -C build --print-errorlogs
echo "== the same under ASan+UBSan"
scripts/build.sh build-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs
echo "== integration tests"
export KAPSEL_RUNTIME="$PWD/build/src/cli/kapsel-runtime"
# test_build.py's multi-stage C case builds on a Debian+gcc base made once with debootstrap
# (from Debian's mirror, about 2 minutes; cached in /var/cache/kapsel-build-test)
export KAPSEL_BUILD_DEBOOTSTRAP=1
# Debian's python3 (with python3-pytest), not whatever python3 comes first on PATH
/usr/bin/python3 -m pytest -q -rs ${PYTEST_ARGS:-} tests/integration
echo "== the engine's and the VM CLI's end-to-end tests again, with the ASan+UBSan kapsel"
KAPSEL="$PWD/build-asan/src/cli/kapsel" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
        exec /usr/bin/python3 -m pytest -q -rs ${PYTEST_ARGS:-} tests/integration/test_engine.py \
        tests/integration/test_vm_cli.py
