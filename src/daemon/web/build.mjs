// Bundle src/app.js (with uPlot from node_modules) into OUT/app.js and OUT/app.css, xterm.js into
// OUT/term.js (loaded when a terminal opens), and copy src/index.html. Minified, no source maps, no inline anything (the CSP forbids it).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, 'src/app.js'), term: join(here, 'src/xterm-entry.js') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  outdir: out,
  logLevel: 'warning',
  legalComments: 'none',
});
copyFileSync(join(here, 'src/index.html'), join(out, 'index.html'));
// gzip copies, sent to browsers that accept them (kapseld compresses nothing itself)
for (const f of ['app.js', 'app.css', 'term.js'])
  writeFileSync(join(out, f + '.gz'), gzipSync(readFileSync(join(out, f)), { level: 9 }));
