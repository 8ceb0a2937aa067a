#!/bin/sh
# run-golden.sh DRIVER DIR: for each DIR/*.json, run DRIVER on it and compare stdout (and the
# exit status line) with DIR/<case>.expected. UPDATE_GOLDEN=1 rewrites the expected files.
set -u
driver=$1 dir=$2
fail=0 n=0
for input in "$dir"/*.json; do
        [ -e "$input" ] || continue
        n=$((n + 1))
        expected=${input%.json}.expected
        actual=$("$driver" "$input" 2>&1; echo "exit $?")
        if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
                printf '%s\n' "$actual" > "$expected"
                continue
        fi
        if ! printf '%s\n' "$actual" | diff -u "$expected" - ; then
                echo "not ok $n - $(basename "$input")"
                fail=1
        else
                echo "ok $n - $(basename "$input")"
        fi
done
echo "1..$n"
[ "$n" -gt 0 ] || { echo "no golden cases in $dir"; exit 1; }
exit $fail
