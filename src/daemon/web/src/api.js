// The console's calls: the daemon's own Docker-compatible routes under /console/api/, with the
// session cookie (sent by the browser) and the CSRF token on every state change.
let csrf = '';

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function call(method, url, body, raw) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && !url.endsWith('/login')) {
    window.dispatchEvent(new Event('kapsel-logout'));
  }
  if (raw) {
    if (!r.ok) throw new ApiError(r.status, await errorText(r));
    return r;
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!r.ok) throw new ApiError(r.status, (data && data.message) || text || r.statusText);
  return data;
}

async function errorText(r) {
  const t = await r.text();
  try { return JSON.parse(t).message || t; } catch (e) { return t || r.statusText; }
}

export const api = {
  get: (path) => call('GET', '/console/api' + path),
  post: (path, body) => call('POST', '/console/api' + path, body),
  del: (path) => call('DELETE', '/console/api' + path),
  stream: (method, path, body) => call(method, '/console/api' + path, body, true),
  stats: () => call('GET', '/console/stats'),
  // every container and VM with its kind (docker's list leaves VMs out)
  instances: () => call('GET', '/console/instances'),
  async login(token) {
    const r = await call('POST', '/console/login', { token });
    csrf = r.csrf;
  },
  async session() {
    const r = await call('GET', '/console/session');
    csrf = r.csrf;
    return r;
  },
  async logout() {
    await call('POST', '/console/logout');
    csrf = '';
  },
  csrf: () => csrf,
};

// Docker's multiplexed log stream: 8-byte headers (stream, 0, 0, 0, big-endian length).
export function demux(buf, state) {
  let out = '';
  const dec = state.dec || (state.dec = new TextDecoder());
  state.pending = state.pending ? concat(state.pending, buf) : buf;
  if (state.tty === undefined) state.tty = !(state.pending[0] <= 2 && state.pending[1] === 0 && state.pending[2] === 0 && state.pending[3] === 0);
  if (state.tty) { out = dec.decode(state.pending, { stream: true }); state.pending = null; return out; }
  let p = state.pending, off = 0;
  while (p.length - off >= 8) {
    const len = (p[off + 4] << 24 | p[off + 5] << 16 | p[off + 6] << 8 | p[off + 7]) >>> 0;
    if (p.length - off - 8 < len) break;
    out += dec.decode(p.subarray(off + 8, off + 8 + len), { stream: true });
    off += 8 + len;
  }
  state.pending = p.subarray(off);
  return out;
}

function concat(a, b) {
  const c = new Uint8Array(a.length + b.length);
  c.set(a); c.set(b, a.length);
  return c;
}
