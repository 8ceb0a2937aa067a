// The console's pages. Each page is a function (root, ctx) that fills `root` and may return a
// cleanup function (timers, streams, terminals). Text from the daemon is only ever set as text.
import { api, demux } from './api.js';
import { LiveChart, sparkline, bytes, pct } from './charts.js';
import { openTerminal } from './terminal.js';

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function card(title, ...kids) { return h('section', { class: 'card' }, h('h2', {}, title), ...kids); }

function notice(root, msg, kind) {
  const n = h('div', { class: 'notice ' + (kind || 'error'), role: 'alert' }, msg);
  root.prepend(n);
  setTimeout(() => n.remove(), 8000);
}

export function confirmBox(text, action) {
  return new Promise((resolve) => {
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    const dlg = h('dialog', { class: 'confirm' },
      h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', 'data-confirm': 'yes', onclick: () => done(true) }, action),
        h('button', { type: 'button', onclick: () => done(false) }, 'Cancel')));
    document.body.append(dlg);
    dlg.showModal();
  });
}

// Counters -> rates between two /console/stats snapshots, kept per page.
export class StatsTracker {
  constructor() { this.prev = null; this.hist = new Map(); }
  async sample() {
    const s = await api.stats();
    const out = { host: s.host, ctr: {} };
    const p = this.prev;
    if (p) {
      const dt = (s.time_ms - p.time_ms) / 1000;
      const dTot = s.host.cpu_total - p.host.cpu_total;
      out.host.cpu_pct = dTot > 0 ? 100 * (1 - (s.host.cpu_idle - p.host.cpu_idle) / dTot) : 0;
      for (const [id, c] of Object.entries(s.containers)) {
        const q = p.containers[id];
        const cpu = q && dt > 0 ? (100 * (c.cpu_ns - q.cpu_ns)) / (dt * 1e9) : null;
        const rd = q && dt > 0 ? (c.blk_read - q.blk_read) / dt : null;
        const wr = q && dt > 0 ? (c.blk_write - q.blk_write) / dt : null;
        const rx = q && dt > 0 && c.net_rx != null ? (c.net_rx - q.net_rx) / dt : null;
        const tx = q && dt > 0 && c.net_tx != null ? (c.net_tx - q.net_tx) / dt : null;
        out.ctr[id] = { ...c, cpu, rd, wr, rx, tx };
        const hst = this.hist.get(id) || { cpu: [], mem: [] };
        if (cpu != null) { hst.cpu.push(cpu); hst.mem.push(c.mem); }
        if (hst.cpu.length > 30) { hst.cpu.shift(); hst.mem.shift(); }
        this.hist.set(id, hst);
      }
    } else {
      for (const [id, c] of Object.entries(s.containers)) out.ctr[id] = { ...c };
    }
    out.time = s.time_ms;
    this.prev = s;
    return out;
  }
}

function every(ms, fn) {
  let stop = false, timer = null;
  const tick = async () => {
    if (stop) return;
    try { await fn(); } catch (e) { /* shown by the page */ }
    if (!stop) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stop = true; clearTimeout(timer); };
}

// Two graphs a row when there is room, one below 760 px.
function chartWidth(el) {
  const w = el.clientWidth || 560;
  return Math.max(260, Math.floor(w >= 760 ? (w - 17) / 2 : w - 2));
}

/* ---------- overview ---------- */
export function overview(root) {
  const tracker = new StatsTracker();
  const facts = h('dl', { class: 'facts' });
  const graphs = h('div', { class: 'graphs' });
  root.append(h('h1', {}, 'Host'), card('Now', facts), card('Live', graphs));
  let cpuChart, memChart;
  const stop = every(2000, async () => {
    const [s, ctrs, imgs] = await Promise.all([tracker.sample(), api.instances(), api.get('/images/json')]);
    const host = s.host;
    const vms = ctrs.filter((c) => c.Kind === 'vm').length;
    const running = ctrs.filter((c) => c.State === 'running').length;
    const rows = [
      ['CPU', host.cpu_pct == null ? '…' : `${pct(host.cpu_pct)} of ${host.cpus} CPUs`],
      ['Memory', `${bytes(host.mem_total - host.mem_available)} used of ${bytes(host.mem_total)}`],
      ['Disk (root)', `${bytes(host.disk_total - host.disk_free)} used of ${bytes(host.disk_total)} — ${host.root}`],
      ['KVM', host.kvm],
      ['Containers', `${ctrs.length - vms} (${running} running in all)`],
      ['VMs', String(vms)],
      ['Images', String(imgs.length)],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-fact': k }, v)]));
    if (!cpuChart) {
      cpuChart = new LiveChart(graphs, 'Host CPU', ['CPU %'], (v) => v.toFixed(0) + '%', chartWidth(graphs), 100);
      memChart = new LiveChart(graphs, 'Host memory', ['used'], bytes, chartWidth(graphs));
    }
    const t = s.time / 1000;
    if (host.cpu_pct != null) cpuChart.push(t, [host.cpu_pct]);
    memChart.push(t, [host.mem_total - host.mem_available]);
  });
  return () => { stop(); cpuChart && cpuChart.destroy(); memChart && memChart.destroy(); };
}

/* ---------- instances ---------- */
function uptime(c) {
  if ((c.State !== 'running' && c.State !== 'paused') || !c.Started) return '';
  let s = Math.max(0, Math.floor(Date.now() / 1000 - c.Started));
  const parts = [[86400, 'd'], [3600, 'h'], [60, 'm']].flatMap(([n, u]) => {
    const v = Math.floor(s / n);
    s %= n;
    return v ? [v + u] : [];
  });
  return parts.length ? parts.slice(0, 2).join(' ') : s + 's';
}

const actions = {
  running: ['stop', 'restart', 'pause'],
  paused: ['unpause', 'stop'],
  created: ['start', 'remove'],
  exited: ['start', 'remove'],
  dead: ['remove'],
};

export async function ctrAction(root, c, act) {
  const name = (c.Name || c.Id).replace(/^\//, '');
  if (act === 'remove' || act === 'stop') {
    if (!(await confirmBox(`${act === 'remove' ? 'Remove' : 'Stop'} ${name}?`, act === 'remove' ? 'Remove' : 'Stop'))) return false;
  }
  try {
    if (act === 'remove') await api.del(`/containers/${c.Id}?force=1`);
    else await api.post(`/containers/${c.Id}/${act}`);
    return true;
  } catch (e) {
    notice(root, `${act} ${name}: ${e.message}`);
    return false;
  }
}

export function instances(root) {
  const tracker = new StatsTracker();
  const filter = h('input', { type: 'search', placeholder: 'Filter by name, image, state', 'aria-label': 'filter', id: 'filter' });
  const sortSel = h('select', { 'aria-label': 'sort', id: 'sort' },
    ...['name', 'state', 'image', 'cpu', 'memory'].map((k) => h('option', { value: k }, 'sort: ' + k)));
  const tbody = h('tbody');
  const table = h('table', { class: 'list', id: 'instances' },
    h('thead', {}, h('tr', {}, ...['Name', 'Kind', 'Image', 'State', 'Ports', 'Uptime', 'CPU', 'Memory', ''].map((t) => h('th', {}, t)))),
    tbody);
  root.append(h('div', { class: 'titlebar' }, h('h1', {}, 'Containers and VMs'),
    h('a', { href: '#/create', class: 'button primary' }, 'Create')),
    h('div', { class: 'tools' }, filter, sortSel), h('div', { class: 'scroll' }, table));
  let list = [], stats = { ctr: {} };
  const rowsById = new Map();
  let renders = 0;
  const render = () => {
    const t0 = performance.now();
    const f = filter.value.trim().toLowerCase();
    const key = sortSel.value;
    const shown = list.filter((c) => !f || [c.Name, c.Image, c.State, c.Kind].join(' ').toLowerCase().includes(f));
    const val = (c) => ({ name: c.Name, state: c.State, image: c.Image,
      cpu: -((stats.ctr[c.Id] || {}).cpu || 0), memory: -((stats.ctr[c.Id] || {}).mem || 0) })[key];
    shown.sort((a, b) => (val(a) < val(b) ? -1 : val(a) > val(b) ? 1 : 0));
    const seen = new Set();
    const rows = shown.map((c) => { seen.add(c.Id); return row(c); });
    for (const id of rowsById.keys()) if (!seen.has(id)) rowsById.delete(id);
    tbody.replaceChildren(...rows);
    if (!shown.length) tbody.append(h('tr', {}, h('td', { colspan: 9, class: 'empty' }, list.length ? 'Nothing matches the filter.' : 'No containers or VMs yet.')));
    // read by bench/web: how long one update of the whole list takes
    table.dataset.renders = String(++renders);
    table.dataset.renderMs = (performance.now() - t0).toFixed(2);
  };
  const row = (c) => {
    let r = rowsById.get(c.Id);
    if (!r) {
      const name = c.Name;
      r = { tr: h('tr', { 'data-name': name }), cpu: h('canvas', { width: 80, height: 22, class: 'spark' }),
        mem: h('canvas', { width: 80, height: 22, class: 'spark' }), cpuTxt: h('span'), memTxt: h('span') };
      rowsById.set(c.Id, r);
    }
    const name = c.Name;
    const s = stats.ctr[c.Id] || {};
    const hist = tracker.hist.get(c.Id) || { cpu: [], mem: [] };
    sparkline(r.cpu, hist.cpu, 100, '#2f6fde');
    sparkline(r.mem, hist.mem, s.mem_limit || c.MemoryLimit, '#d9480f');
    r.cpuTxt.textContent = s.cpu == null ? '' : pct(s.cpu);
    r.memTxt.textContent = s.mem == null ? '' : bytes(s.mem);
    const btns = (actions[c.State] || ['remove']).map((a) => h('button', { type: 'button', class: a === 'remove' ? 'danger small' : 'small',
      'data-action': a, onclick: async () => { if (await ctrAction(root, c, a)) refresh(); } }, a));
    r.tr.replaceChildren(
      h('td', { 'data-label': 'Name' }, h('a', { href: '#/c/' + c.Id }, name)),
      h('td', { 'data-label': 'Kind' }, c.Kind),
      h('td', { 'data-label': 'Image', class: 'clip' }, c.Image),
      h('td', { 'data-label': 'State' }, h('span', { class: 'state ' + c.State }, c.State)),
      h('td', { 'data-label': 'Ports' }, c.Ports),
      h('td', { 'data-label': 'Uptime' }, uptime(c)),
      h('td', { 'data-label': 'CPU', class: 'num' }, r.cpu, r.cpuTxt),
      h('td', { 'data-label': 'Memory', class: 'num' }, r.mem, r.memTxt),
      h('td', { class: 'acts' }, ...btns));
    return r.tr;
  };
  const refresh = async () => {
    [list, stats] = await Promise.all([api.instances(), tracker.sample()]);
    render();
  };
  filter.addEventListener('input', render);
  sortSel.addEventListener('change', render);
  return every(2000, refresh);
}

/* ---------- create ---------- */
const fieldFor = [
  [/image|pull|manifest|repository|reference/i, 'image'],
  [/name/i, 'name'],
  [/port/i, 'ports'],
  [/volume|bind|mount/i, 'volumes'],
  [/memory/i, 'memory'],
  [/cpu/i, 'cpus'],
  [/network/i, 'network'],
  [/isolation|kvm|vm/i, 'isolation'],
  [/command|executable|cmd|exec/i, 'cmd'],
];

function splitWords(s) {
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function memBytes(s) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) return NaN;
  return Math.round(parseFloat(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()));
}

export function createForm(root, ctx) {
  const f = {};
  const field = (key, label, input, hint) => {
    f[key] = input;
    input.id = 'f-' + key;
    input.name = key;
    const err = h('div', { class: 'field-error', id: 'err-' + key, 'aria-live': 'polite' });
    return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hint ? h('small', {}, hint) : null, err);
  };
  const netSel = h('select', {}, h('option', { value: '' }, 'default (bridge)'), h('option', { value: 'none' }, 'none'), h('option', { value: 'host' }, 'host'));
  api.get('/networks').then((nets) => nets.forEach((n) => {
    if (!['bridge', 'none', 'host'].includes(n.Name)) netSel.append(h('option', { value: n.Name }, n.Name));
  })).catch(() => {});
  const general = h('div', { class: 'field-error', id: 'err-general', role: 'alert' });
  const startBox = h('input', { type: 'checkbox', checked: true, id: 'f-start' });
  const form = h('form', { class: 'create', novalidate: true },
    field('image', 'Image', h('input', { required: true, placeholder: 'busybox', autocomplete: 'off' })),
    field('name', 'Name', h('input', { placeholder: 'optional', autocomplete: 'off' })),
    field('cmd', 'Command', h('input', { placeholder: 'sleep 3600', autocomplete: 'off' }), 'as words; quotes group'),
    field('ports', 'Ports', h('input', { placeholder: '8080:80, 5353:53/udp' }), 'HOST:CONTAINER[/udp], comma separated'),
    field('volumes', 'Volumes', h('input', { placeholder: 'data:/data, /srv:/srv:ro' }), 'NAME-or-PATH:PATH[:ro], comma separated'),
    field('memory', 'Memory', h('input', { placeholder: '256m' })),
    field('cpus', 'CPUs', h('input', { placeholder: '1.5', inputmode: 'decimal' })),
    field('network', 'Network', netSel),
    field('isolation', 'Isolation', h('select', {}, h('option', { value: '' }, 'container'), h('option', { value: 'vm' }, 'micro-VM (vm)'))),
    h('div', { class: 'field' }, h('label', { for: 'f-start', class: 'inline' }, startBox, ' start it now')),
    general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'create-submit' }, 'Create'),
      h('a', { href: '#/instances', class: 'button' }, 'Cancel')));
  root.append(h('h1', {}, 'Create a container or VM'), card('Settings', form));
  const showErr = (key, msg) => { (form.querySelector('#err-' + key) || general).textContent = msg; };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
    const body = { Image: f.image.value.trim(), HostConfig: {}, ExposedPorts: {} };
    if (!body.Image) return showErr('image', 'an image is required');
    if (f.cmd.value.trim()) body.Cmd = splitWords(f.cmd.value);
    const hc = body.HostConfig;
    for (const spec of f.ports.value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const m = /^(?:([\d.]+):)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(spec);
      if (!m) return showErr('ports', `${spec}: expected HOST:CONTAINER[/udp]`);
      const key = `${m[3]}/${m[4] || 'tcp'}`;
      body.ExposedPorts[key] = {};
      (hc.PortBindings ||= {})[key] = [{ HostIp: m[1] || '', HostPort: m[2] }];
    }
    const vols = f.volumes.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (vols.length) hc.Binds = vols;
    if (f.memory.value.trim()) {
      const b = memBytes(f.memory.value);
      if (!(b > 0)) return showErr('memory', `${f.memory.value}: expected a size like 256m or 1g`);
      hc.Memory = b;
    }
    if (f.cpus.value.trim()) {
      const c = parseFloat(f.cpus.value);
      if (!(c > 0)) return showErr('cpus', `${f.cpus.value}: expected a number of CPUs like 0.5 or 2`);
      hc.NanoCpus = Math.round(c * 1e9);
    }
    if (f.network.value) hc.NetworkMode = f.network.value;
    if (f.isolation.value) hc.Isolation = f.isolation.value;
    const name = f.name.value.trim();
    let created;
    try {
      created = await api.post('/containers/create' + (name ? '?name=' + encodeURIComponent(name) : ''), body);
    } catch (e) {
      const hit = fieldFor.find(([re]) => re.test(e.message));
      return showErr(hit ? hit[1] : 'general', e.message);
    }
    if (startBox.checked) {
      try { await api.post(`/containers/${created.Id}/start`); } catch (e) {
        const hit = fieldFor.find(([re]) => re.test(e.message));
        return showErr(hit ? hit[1] : 'general', 'created, but it did not start: ' + e.message);
      }
    }
    ctx.go('#/c/' + created.Id);
  });
  f.image.focus();
}

/* ---------- detail ---------- */
export function detail(root, ctx, id) {
  const cleanups = [];
  const tracker = new StatsTracker();
  const head = h('div', { class: 'titlebar' });
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'sections' });
  const body = h('div', { class: 'tabbody' });
  root.append(head, tabs, body);
  let info = null, tabCleanup = null;
  const load = async () => {
    info = await api.get(`/containers/${id}/json`);
    const st = info.State.Status;
    head.replaceChildren(h('h1', {}, info.Name.replace(/^\//, ''), ' ', h('span', { class: 'state ' + st }, st)),
      h('div', { class: 'acts' }, ...(actions[st] || ['remove']).map((a) => h('button', { type: 'button', 'data-action': a,
        class: a === 'remove' ? 'danger' : '', onclick: async () => {
          if (await ctrAction(root, { Id: info.Id, Name: info.Name }, a)) { if (a === 'remove') ctx.go('#/instances'); else load(); }
        } }, a))));
  };
  const show = (name) => {
    if (tabCleanup) tabCleanup();
    tabCleanup = null;
    tabs.querySelectorAll('button').forEach((b) => b.classList.toggle('on', b.dataset.tab === name));
    body.replaceChildren();
    tabCleanup = tabFns[name]();
  };
  const terminalTab = (mode, notRunning) => {
    const el = h('div', { class: 'term', id: mode === 'exec' ? 'terminal' : 'console' });
    body.append(el);
    if (info.State.Status !== 'running') {
      el.append(h('p', { class: 'term-note' }, notRunning));
      return null;
    }
    let t = null, closed = false;
    openTerminal(el, info.Id, mode).then((x) => { if (closed) x.close(); else t = x; })
      .catch((e) => el.append(h('p', { class: 'term-note' }, (mode === 'exec' ? 'exec: ' : 'attach: ') + e.message)));
    return () => { closed = true; t && t.close(); };
  };
  const tabFns = {
    graphs: () => {
      const box = h('div', { class: 'graphs' });
      body.append(box);
      const w = chartWidth(box);
      const cpu = new LiveChart(box, 'CPU', ['CPU %'], (v) => v.toFixed(1) + '%', w, 100);
      const mem = new LiveChart(box, 'Memory', ['usage'], bytes, w);
      const net = new LiveChart(box, 'Network', ['received/s', 'sent/s'], bytes, w, 1024);
      const disk = new LiveChart(box, 'Disk I/O', ['read/s', 'write/s'], bytes, w, 1024);
      box.dataset.points = '0';
      const stop = every(1000, async () => {
        const s = await tracker.sample();
        const c = s.ctr[info.Id];
        if (!c || c.cpu == null) return;
        const t = s.time / 1000;
        cpu.push(t, [c.cpu]); mem.push(t, [c.mem]); net.push(t, [c.rx, c.tx]); disk.push(t, [c.rd, c.wr]);
        box.dataset.points = String(cpu.data[0].length);
      });
      return () => { stop(); cpu.destroy(); mem.destroy(); net.destroy(); disk.destroy(); };
    },
    logs: () => {
      const pre = h('pre', { class: 'logs', id: 'logs' });
      const follow = h('input', { type: 'checkbox', checked: true, id: 'follow' });
      body.append(h('label', { class: 'inline' }, follow, ' follow'), pre);
      let ctl = new AbortController();
      const run = async () => {
        ctl.abort(); ctl = new AbortController();
        pre.textContent = '';
        const r = await fetch(`/console/api/containers/${id}/logs?stdout=1&stderr=1&tail=500${follow.checked ? '&follow=1' : ''}`,
          { credentials: 'same-origin', signal: ctl.signal });
        const rd = r.body.getReader(), state = {};
        for (;;) {
          const { value, done } = await rd.read();
          if (done) break;
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(demux(value, state));
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        }
      };
      follow.addEventListener('change', () => run().catch(() => {}));
      run().catch(() => {});
      return () => ctl.abort();
    },
    inspect: () => {
      body.append(h('pre', { class: 'inspect' }, JSON.stringify(info, null, 2)));
    },
    terminal: () => terminalTab('exec', 'The terminal needs the container running (a micro-VM has its console instead).'),
    console: () => terminalTab('attach', 'The console needs it running.'),
    snapshots: () => snapshotsTab(root, body, info, () => load().then(() => show('snapshots'))),
  };
  const vmOnly = { snapshots: true };
  for (const name of Object.keys(tabFns))
    tabs.append(h('button', { type: 'button', 'data-tab': name, hidden: true, onclick: () => show(name) }, name));
  const showTabs = () => tabs.querySelectorAll('button').forEach((b) => {
    b.hidden = vmOnly[b.dataset.tab] && !(info && (info.Kind === 'vm' || (info.HostConfig || {}).Isolation === 'vm'));
  });
  load().then(() => { showTabs(); show(ctx.tab || 'graphs'); }).catch((e) => notice(root, e.message));
  cleanups.push(every(5000, () => info && load()));
  return () => { cleanups.forEach((f) => f()); if (tabCleanup) tabCleanup(); };
}

/* The snapshots of a micro-VM or the checkpoints of an --isolation=vm container (docker's checkpoint
 * routes serve both): take one while it runs, start a stopped one from one (it resumes, no boot),
 * remove one. Errors show next to the form. */
function snapshotsTab(root, body, info, reload) {
  const running = info.State.Status === 'running' || info.State.Status === 'paused';
  const err = h('div', { class: 'field-error', id: 'err-snapshot', role: 'alert' });
  const nameIn = h('input', { id: 'snapshot-name', placeholder: 'before-upgrade', autocomplete: 'off', 'aria-label': 'snapshot name' });
  const act = async (what, fn) => {
    err.textContent = '';
    try { await fn(); reload(); } catch (e) { err.textContent = what ? `${what}: ${e.message}` : e.message; }
  };
  const take = (ev) => {
    ev.preventDefault();
    const name = nameIn.value.trim();
    if (!name) { err.textContent = 'a name is required'; return; }
    act('', () => api.post(`/containers/${info.Id}/checkpoints`, { CheckpointID: name }));
  };
  const rows = (info.Snapshots || info.Checkpoints || []).map((sn) => h('tr', { 'data-snapshot': sn.Name },
    h('td', {}, sn.Name), h('td', {}, sn.Created ? new Date(sn.Created * 1000).toLocaleString() : ''),
    h('td', {}, sn.SizeBytes != null ? bytes(sn.SizeBytes) : ''),
    h('td', { class: 'acts' },
      h('button', { type: 'button', class: 'small', disabled: running, title: running ? 'stop the VM first' : '',
        onclick: () => act('start from ' + sn.Name, () => api.post(`/containers/${info.Id}/start?checkpoint=${encodeURIComponent(sn.Name)}`)) },
      'start from it'),
      h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (await confirmBox(`Remove snapshot ${sn.Name}?`, 'Remove'))
          act('remove ' + sn.Name, () => api.del(`/containers/${info.Id}/checkpoints/${encodeURIComponent(sn.Name)}`));
      } }, 'remove'))));
  body.append(
    h('form', { class: 'inline-form', id: 'snapshot-form', onsubmit: take }, nameIn,
      h('button', { type: 'submit', class: 'primary', id: 'snapshot-take' }, 'take snapshot'), err),
    simpleTable(['Name', 'Taken', 'Size', ''], rows));
  return null;
}

/* ---------- images, networks, volumes ---------- */
function simpleTable(headers, rows) {
  return h('div', { class: 'scroll' }, h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'None.'))]))));
}

export function images(root) {
  const ref = h('input', { placeholder: 'busybox:latest', id: 'pull-ref', 'aria-label': 'image to pull' });
  const progress = h('div', { class: 'progress', id: 'pull-progress' });
  const listBox = h('div');
  const refresh = async () => {
    const imgs = await api.get('/images/json');
    listBox.replaceChildren(simpleTable(['Tags', 'ID', 'Size', 'Created', ''], imgs.map((i) => h('tr', {},
      h('td', { 'data-label': 'Tags' }, (i.RepoTags || []).join(', ') || '<none>'),
      h('td', { 'data-label': 'ID' }, i.Id.replace('sha256:', '').slice(0, 12)),
      h('td', { 'data-label': 'Size' }, bytes(i.Size)),
      h('td', { 'data-label': 'Created' }, i.Created > 0 ? new Date(i.Created * 1000).toLocaleString() : '-'),
      h('td', { class: 'acts' }, h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (!(await confirmBox(`Remove image ${(i.RepoTags || [i.Id])[0]}?`, 'Remove'))) return;
        try { await api.del('/images/' + encodeURIComponent(i.Id)); } catch (e) { notice(root, e.message); }
        refresh();
      } }, 'remove'))))));
  };
  const pull = async (ev) => {
    ev.preventDefault();
    const m = /^(.*?)(?::([\w][\w.-]*))?$/.exec(ref.value.trim());
    if (!m || !m[1]) return;
    progress.replaceChildren();
    const layers = new Map();
    try {
      const r = await api.stream('POST', `/images/create?fromImage=${encodeURIComponent(m[1])}&tag=${encodeURIComponent(m[2] || 'latest')}`);
      const rd = r.body.getReader(), dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          const ev2 = JSON.parse(line);
          if (ev2.error) throw new Error(ev2.error);
          const key = ev2.id || ev2.status;
          let el = layers.get(key);
          if (!el) { el = h('div', { class: 'layer' }); layers.set(key, el); progress.append(el); }
          const d = ev2.progressDetail || {};
          el.textContent = `${ev2.id ? ev2.id + ': ' : ''}${ev2.status}${d.total ? ` ${bytes(d.current)} / ${bytes(d.total)}` : ''}`;
        }
      }
    } catch (e) { progress.append(h('div', { class: 'field-error' }, e.message)); }
    refresh();
  };
  root.append(h('h1', {}, 'Images'), card('Pull', h('form', { class: 'inline-form', onsubmit: pull }, ref,
    h('button', { type: 'submit', class: 'primary' }, 'Pull')), progress), card('On this host', listBox));
  return every(10000, refresh);
}

export function networks(root) {
  const name = h('input', { placeholder: 'name', 'aria-label': 'network name' });
  const listBox = h('div');
  const refresh = async () => {
    const nets = await api.get('/networks');
    listBox.replaceChildren(simpleTable(['Name', 'Driver', 'Subnet', ''], nets.map((n) => h('tr', {},
      h('td', { 'data-label': 'Name' }, n.Name), h('td', { 'data-label': 'Driver' }, n.Driver || ''),
      h('td', { 'data-label': 'Subnet' }, ((n.IPAM && n.IPAM.Config) || []).map((c) => c.Subnet).join(', ')),
      h('td', { class: 'acts' }, ['bridge', 'host', 'none'].includes(n.Name) ? '' : h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (!(await confirmBox(`Remove network ${n.Name}?`, 'Remove'))) return;
        try { await api.del('/networks/' + encodeURIComponent(n.Id || n.Name)); } catch (e) { notice(root, e.message); }
        refresh();
      } }, 'remove'))))));
  };
  const create = async (ev) => {
    ev.preventDefault();
    try { await api.post('/networks/create', { Name: name.value.trim() }); name.value = ''; } catch (e) { notice(root, e.message); }
    refresh();
  };
  root.append(h('h1', {}, 'Networks'), card('Create', h('form', { class: 'inline-form', onsubmit: create }, name,
    h('button', { type: 'submit', class: 'primary' }, 'Create'))), card('Networks', listBox));
  return every(10000, refresh);
}

export function volumes(root) {
  const name = h('input', { placeholder: 'name', 'aria-label': 'volume name' });
  const listBox = h('div');
  const refresh = async () => {
    const r = await api.get('/volumes');
    listBox.replaceChildren(simpleTable(['Name', 'Driver', 'Mountpoint', ''], (r.Volumes || []).map((v) => h('tr', {},
      h('td', { 'data-label': 'Name' }, v.Name), h('td', { 'data-label': 'Driver' }, v.Driver || ''),
      h('td', { 'data-label': 'Mountpoint', class: 'clip' }, v.Mountpoint || ''),
      h('td', { class: 'acts' }, h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (!(await confirmBox(`Remove volume ${v.Name}?`, 'Remove'))) return;
        try { await api.del('/volumes/' + encodeURIComponent(v.Name)); } catch (e) { notice(root, e.message); }
        refresh();
      } }, 'remove'))))));
  };
  const create = async (ev) => {
    ev.preventDefault();
    try { await api.post('/volumes/create', { Name: name.value.trim() }); name.value = ''; } catch (e) { notice(root, e.message); }
    refresh();
  };
  root.append(h('h1', {}, 'Volumes'), card('Create', h('form', { class: 'inline-form', onsubmit: create }, name,
    h('button', { type: 'submit', class: 'primary' }, 'Create'))), card('Volumes', listBox));
  return every(10000, refresh);
}
