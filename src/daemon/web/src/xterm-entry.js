// xterm.js and its addons, bundled apart as term.js: most visits never open a terminal, so the
// page loads these 300 kB only when one is opened (terminal.js adds the script).
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { CanvasAddon } from '@xterm/addon-canvas';

window.kapselXterm = { Terminal, FitAddon, CanvasAddon };
