#!/bin/sh
# Bundle the web console: build.sh SRCDIR OUTDIR. npm ci runs when node_modules is missing or older
# than the lockfile. When npm cannot fetch the packages (offline), a page saying so is written
# instead, so that the rest of kapsel still builds.
set -u
src=$1 out=$2
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
cd "$src" || exit 1
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "web console: npm ci in $src" >&2
    if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
        echo "web console: npm ci failed (offline?); kapseld will serve a page saying the console is not built" >&2
        mkdir -p "$out"
        printf '<!doctype html><title>kapsel</title><p>The web console was not built: npm ci failed. Run npm ci in src/daemon/web and rebuild.</p>\n' > "$out/index.html"
        for f in app.js app.css term.js; do : > "$out/$f"; : | gzip > "$out/$f.gz"; done
        exit 0
    fi
fi
exec node build.mjs "$out"
