// A terminal in the page: an exec instance with a tty in the container, its stream over the
// console's WebSocket (binary frames both ways; a text frame {"resize":[cols,rows]}).
import '@xterm/xterm/css/xterm.css';
import { api, demux } from './api.js';

let loading = null;

// assets/term.js (xterm.js), once, on the first terminal
function loadXterm() {
  if (window.kapselXterm) return Promise.resolve(window.kapselXterm);
  loading ||= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = 'assets/term.js';
    s.onload = () => resolve(window.kapselXterm);
    s.onerror = () => { loading = null; reject(new Error('could not load the terminal (assets/term.js)')); };
    document.head.append(s);
  });
  return loading;
}

// mode 'exec': a new shell in the container; 'attach': the container's or VM's own stdio (a VM's
// serial console), in docker's multiplexed frames unless it has a tty.
export async function openTerminal(el, ctrId, mode, cmd) {
  const { Terminal, FitAddon, CanvasAddon } = await loadXterm();
  let path;
  if (mode === 'attach') {
    path = `attach/${ctrId}`;
  } else {
    const exec = await api.post(`/containers/${encodeURIComponent(ctrId)}/exec`, {
      AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: cmd || ['/bin/sh'],
      Env: ['TERM=xterm-256color'],
    });
    path = `exec/${exec.Id}`;
  }
  const term = new Terminal({ cursorBlink: true, fontSize: 14, convertEol: false,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace' });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  // the canvas renderer draws without the <style> elements the DOM renderer injects (the CSP
  // allows no inline style)
  try { term.loadAddon(new CanvasAddon()); } catch (e) { /* DOM renderer then */ }
  fit.fit();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/console/ws/${path}`);
  const stream = {};
  ws.binaryType = 'arraybuffer';
  const enc = new TextEncoder();
  const sendSize = () => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
  };
  ws.onopen = () => { sendSize(); term.focus(); };
  ws.onmessage = (ev) => term.write(mode === 'attach' ? demux(new Uint8Array(ev.data), stream) : new Uint8Array(ev.data));
  ws.onclose = () => term.write('\r\n\x1b[2m[session ended]\x1b[0m\r\n');
  term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  const onResize = () => { fit.fit(); sendSize(); };
  window.addEventListener('resize', onResize);
  el.kapselTerm = term;
  return { term, ws, close() { window.removeEventListener('resize', onResize); ws.close(); term.dispose(); } };
}
